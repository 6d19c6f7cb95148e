#!/usr/bin/env python3
"""Seed 001 (lab report "基于Scapy编写端口扫描器"), "TCP connect scan" code, as
handed in; only dst_ip/dst_port became arguments.

Its mistakes, kept on purpose:
- after the SYN/ACK it sends "AR" (RST/ACK) and calls that the handshake
  ("在完成三次握手的同时断开连接"); no ACK is ever sent (handshake-incomplete);
  the RST/ACK has seq=0 and is dropped by the target (rst-out-of-window);
- there is no ICMP branch at all: an ICMP unreachable prints nothing
  (icmp-ignored).
"""
from scapy.all import *  # noqa: F401,F403  (as in the report)

from seedlib import run


def scan(dst_ip, dst_port):
    resp = sr1(IP(dst=dst_ip)/TCP(dport=dst_port,flags="S"),timeout=10)

    if resp is None:
        print("Filtered")
    elif(resp.haslayer(TCP)):
        if(resp.getlayer(TCP).flags==0x12):
            send_ret = sr(IP(dst=dst_ip)/TCP(dport=dst_port,flags="AR"),timeout=10)  # noqa: F841
            print("Open")
        elif(resp.getlayer(TCP).flags==0x14):
            print("closed")


if __name__ == "__main__":
    run(scan, __doc__)
