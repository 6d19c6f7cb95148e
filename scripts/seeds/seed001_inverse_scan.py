#!/usr/bin/env python3
"""Seed 001, "TCP Xmas / fin / null scan" code, as handed in: the three
differ only in flags ("FPU", "F", ""), chosen here with --flags (default
FPU, the Xmas scan).

Its mistakes, kept on purpose:
- the ICMP check is nested under the haslayer(TCP) branch and never runs
  (icmp-ignored).
Its "Open|Filtered" for silence is right, but the report's summary table
then claims open and filtered ports apart from the same silence
(state-overclaim, see intended.toml).
"""
import sys

from scapy.all import *  # noqa: F401,F403

from seedlib import run

FLAGS = "FPU"


def scan(dst_ip, dst_port):
    resp = sr1(IP(dst=dst_ip)/TCP(dport=dst_port,flags=FLAGS),timeout=10)

    if resp is None:
        print("Open|Filtered")
    elif(resp.haslayer(TCP)):
        if(resp.getlayer(TCP).flags==0x14):
            print("Closed")
        elif(resp.haslayer(ICMP)):
            if(int(resp.getlayer(ICMP).type)==3 and int(resp.getlayer(ICMP).code) in [1,2,3,9,10,13]):
                print("Filtered")


if __name__ == "__main__":
    if "--flags" in sys.argv:
        i = sys.argv.index("--flags")
        FLAGS = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    run(scan, __doc__)
