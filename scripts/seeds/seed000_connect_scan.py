#!/usr/bin/env python3
"""Seed 000, TCP CONNECT SCAN: the SYN demo with "R" changed to "AR"
("只需改动一行，将R改成AR"), as the seed says.

Its mistakes, kept on purpose:
- it never completes the three-way handshake: a RST/ACK is an abort, not the
  final ACK (handshake-incomplete); the scanner's kernel resets the
  connection first;
- the RST/ACK carries scapy's default seq=0: the target drops it
  (rst-out-of-window);
- the ICMP branch reads getlayer(TCP).type and crashes (icmp-ignored).
"""
from scapy.all import ICMP, IP, TCP, sr1

from seedlib import run


def tcp_connect_scan(host, port):
    send = sr1(IP(dst=host) / TCP(dport=port, flags="S"), retry=-2, timeout=2, verbose=0)
    if (send is None):
        # filtered
        pass
    elif send.haslayer(TCP):
        if send.getlayer(TCP).flags == 0x12:  # SA
            sr1(IP(dst=host) / TCP(dport=port, flags="AR"), timeout=2, verbose=0)
            print("[+] %s %d Open" % (host, port))
        elif send.getlayer(TCP).flags == 0x14:  # RA
            # closed
            pass
    elif send.haslayer(ICMP):
        if send.getlayer(TCP).type == 3 and send.getlayer(TCP).code in [1, 2, 3, 9, 10, 13]:
            # filtered
            pass


if __name__ == "__main__":
    run(tcp_connect_scan, __doc__)
