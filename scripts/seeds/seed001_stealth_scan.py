#!/usr/bin/env python3
"""Seed 001, "TCP stealth scan" code, as handed in (dst_ip/dst_port made
arguments).

Its mistakes, kept on purpose:
- the ICMP check is nested under `elif(resp.haslayer(TCP))`: an ICMP error
  has no TCP layer, so the check is never reached and a port answered with
  ICMP unreachable prints nothing (icmp-ignored);
- its RST carries scapy's default seq=0 and is dropped by the target
  (rst-out-of-window); the kernel's own RST is what closes the half-open
  connection (kernel-rst).
"""
from scapy.all import *  # noqa: F401,F403

from seedlib import run


def scan(dst_ip, dst_port):
    resp = sr1(IP(dst=dst_ip)/TCP(dport=dst_port,flags="S"),timeout=10)

    if resp is None:
        print("Filtered")
    elif(resp.haslayer(TCP)):
        if(resp.getlayer(TCP).flags==0x12):
            send_ret = sr(IP(dst=dst_ip)/TCP(dport=dst_port,flags="R"),timeout=10)  # noqa: F841
            print("Open")
        elif(resp.getlayer(TCP).flags==0x14):
            print("closed")
        elif(resp.haslayer(ICMP)):
            if(int(resp.getlayer(ICMP).type)==3 and int(resp.getlayer(ICMP).code) in [1,2,3,9,10,13]):
                print("Filtered")


if __name__ == "__main__":
    run(scan, __doc__)
