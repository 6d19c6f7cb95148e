#!/usr/bin/env python3
"""Seed 001, "UDP scan" code, as handed in (the report's `from scapy.all
import` is missing its `*`; restored so that it runs).

The code itself is right (silence -> Open|Filtered, ICMP 3/3 -> Closed);
the report's summary table is not (closed = "收不到UDP回复包"), and a port
rejected with ICMP port-unreachable reads closed although the lab meant it
filtered (filter-simulated-as-reject, see intended.toml).
"""
from scapy.all import *  # noqa: F401,F403

from seedlib import run


def scan(dst_ip, dst_port):
    resp = sr1(IP(dst=dst_ip)/UDP(dport=dst_port)/DNS(opcode=2),timeout=10)  # 受害者主机开启了DNS服务，想要判断开启状态需要发送DNS询问包

    if resp is None:
        print("Open|Filtered")
    elif(resp.haslayer(UDP)):
        print("Open")
    elif(resp.haslayer(ICMP)):
        if(int(resp.getlayer(ICMP).type)==3 and int(resp.getlayer(ICMP).code==3)):
            print("Closed")
        elif(int(resp.getlayer(ICMP).type)==3 and int(resp.getlayer(ICMP).code) in [1,2,9,10,13]):
            print("Filtered")


if __name__ == "__main__":
    run(scan, __doc__, default_ports="53")
