#!/usr/bin/env python3
"""Seed 001's "实验原理" for UDP, taken literally: "Open: no response /
server responds to the client with a UDP packet". Not code from the seed:
the rule its principle section states, written the way the report's own
UDP code is written.

Its mistake: "open" concluded from silence, which supports only
open|filtered (state-overclaim).
"""
from scapy.all import *  # noqa: F401,F403

from seedlib import run


def scan(dst_ip, dst_port):
    resp = sr1(IP(dst=dst_ip)/UDP(dport=dst_port)/DNS(opcode=2),timeout=10)

    if resp is None:
        print("Open")  # 实验原理: Open: no response / server responds with a UDP packet
    elif(resp.haslayer(UDP)):
        print("Open")
    elif(resp.haslayer(ICMP)):
        if(int(resp.getlayer(ICMP).type)==3 and int(resp.getlayer(ICMP).code)==3):
            print("Closed")
        elif(int(resp.getlayer(ICMP).type)==3 and int(resp.getlayer(ICMP).code) in [1,2,9,10,13]):
            print("Filtered")


if __name__ == "__main__":
    run(scan, __doc__, default_ports="53")
