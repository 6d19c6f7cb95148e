#!/usr/bin/env python3
"""Seed 000 ("浅析端口扫描原理"), TCP SYN SCAN demo, as published.

Its mistakes, kept on purpose:
- after a SYN/ACK it sends its own RST with scapy's default seq=0, which the
  target drops (rst-out-of-window); only the kernel's RST closes the
  half-open connection (kernel-rst);
- its ICMP branch reads send.getlayer(TCP).type: an ICMP error has no TCP
  layer, so the script crashes with AttributeError instead of reporting
  "filtered" (icmp-ignored);
- it prints only "Open": closed and filtered ports print nothing.
"""
from scapy.all import ICMP, IP, TCP, sr1

from seedlib import run


def tcp_syn_scan(host, port):
    send = sr1(IP(dst=host) / TCP(dport=port, flags="S"), retry=-2, timeout=2, verbose=0)
    if (send is None):
        # filtered
        pass
    elif send.haslayer(TCP):
        if send.getlayer(TCP).flags == 0x12:  # SA
            sr1(IP(dst=host) / TCP(dport=port, flags="R"), timeout=2, verbose=0)
            print("[+] %s %d Open" % (host, port))
        elif send.getlayer(TCP).flags == 0x14:  # RA
            # closed
            pass
    elif send.haslayer(ICMP):
        if send.getlayer(TCP).type == 3 and send.getlayer(TCP).code in [1, 2, 3, 9, 10, 13]:
            # filtered
            pass


if __name__ == "__main__":
    run(tcp_syn_scan, __doc__)
