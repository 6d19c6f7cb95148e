#!/usr/bin/env python3
"""The "TCP connect scan" of the scapy tutorial seed 001 cites ("Port
scanning using Scapy", infosecinstitute), the code most students copy:
a source port from RandShort(), then "AR" after a SYN/ACK.

Its mistakes, kept on purpose:
- RandShort() is a volatile value: scapy draws a new one each time a packet
  is built, so the RST/ACK leaves from another source port than the SYN and
  belongs to no connection (rst-port-mismatch);
- it never sends the ACK that completes the handshake (handshake-incomplete);
- no answer prints "Closed", where the textbook says filtered
  (state-mismatch).
"""
from scapy.all import *  # noqa: F401,F403

from seedlib import run


def scan(dst_ip, dst_port):
    src_port = RandShort()
    tcp_connect_scan_resp = sr1(IP(dst=dst_ip)/TCP(sport=src_port,dport=dst_port,flags="S"),timeout=10)
    if tcp_connect_scan_resp is None:
        print("Closed")
    elif(tcp_connect_scan_resp.haslayer(TCP)):
        if(tcp_connect_scan_resp.getlayer(TCP).flags == 0x12):
            send_rst = sr(IP(dst=dst_ip)/TCP(sport=src_port,dport=dst_port,flags="AR"),timeout=10)  # noqa: F841
            print("Open")
        elif (tcp_connect_scan_resp.getlayer(TCP).flags == 0x14):
            print("Closed")


if __name__ == "__main__":
    run(scan, __doc__)
