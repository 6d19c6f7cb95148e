#!/usr/bin/env python3
"""Seed 000, TCP Null / FIN / Xmas scans: the NULL demo, with the flags the
seed gives for the other two ("F" for FIN, "FUP" for Xmas). Choose them with
--flags (default: none, the NULL scan).

Its mistakes, kept on purpose:
- the ICMP branch reads getlayer(TCP).type and crashes, so a port answered
  with ICMP unreachable is never reported filtered (icmp-ignored);
- closed ports print nothing.
Its "Open/Filtered" for silence is right.
"""
import sys

from scapy.all import ICMP, IP, TCP, sr1

from seedlib import run

FLAGS = 0x00


def tcp_null_scan(host, port):
    send = sr1(IP(dst=host) / TCP(dport=port, flags=FLAGS), timeout=10, verbose=0)
    if (send is None):
        print("[+] %s %d \033[92m Open/Filtered \033[0m" % (host, port))
    elif send.haslayer(TCP):
        if send.getlayer(TCP).flags == 0x14:
            # closed
            pass
    elif send.haslayer(ICMP):
        if send.getlayer(TCP).type == 3 and send.getlayer(TCP).code in [1, 2, 3, 9, 10, 13]:
            # filtered
            pass


if __name__ == "__main__":
    if "--flags" in sys.argv:  # "", "F" or "FUP"; taken out before seedlib parses the rest
        i = sys.argv.index("--flags")
        FLAGS = sys.argv[i + 1] or 0x00
        del sys.argv[i:i + 2]
    run(tcp_null_scan, __doc__)
