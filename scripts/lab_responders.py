#!/usr/bin/env python3
"""Scapy responders for the golden-capture lab (scripts/make_golden_more.py):
the protocol behaviour this machine's kernel lacks. Run inside a lab
namespace; prints "ready" once it sniffs, runs until SIGTERM.

    lab_responders.py sctp --iface br0 --open 80 --open-simple 85 --closed 81 [--addrmask 198.18.0.2]
    lab_responders.py zombie --iface z0 --addr 198.18.0.4

sctp
    An SCTP endpoint, for kernels built without SCTP (`modprobe sctp` fails
    here). On an --open port it answers INIT with INIT-ACK (verification tag
    = the INIT's initiate tag) and drops COOKIE-ECHO (whose cookie it never
    issued, as RFC 4960 5.1.5 says a listening endpoint does), ABORT and
    SHUTDOWN-COMPLETE; anything else gets ABORT. An --open-simple port
    answers INIT with INIT-ACK and everything else with ABORT. A --closed
    port answers everything but ABORT with ABORT (RFC 4960 8.4: tag = the
    INIT's initiate tag with T=0, else the packet's own tag with T=1).
    The lab's nftables drop these ports' SCTP at input, so the kernel (which
    sends ICMP protocol unreachable for any SCTP packet) stays quiet on them.
    --addrmask ADDR also answers ICMP address-mask requests to ADDR (Linux
    never does), so -PM has something to find.

zombie
    An idle-scan zombie with the global, incremental IP ID nmap -sI needs
    (Linux's per-destination IP IDs are not): every TCP segment to --addr
    without RST is answered with RST (RST/ACK to a segment without ACK, as
    RFC 793 says), IP ID one more than the last. The lab's
    nftables drop TCP at the zombie's input so its kernel stays quiet.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading


def _sctp(args) -> None:
    from scapy.all import AsyncSniffer, ICMP, IP, IPv6, Raw, send  # noqa: F401
    from scapy.layers.sctp import (SCTP, SCTPChunkAbort, SCTPChunkInit, SCTPChunkInitAck,
                                   SCTPChunkParamStateCookie)

    open_ports, simple, closed = set(args.open), set(args.open_simple), set(args.closed)
    mask_addrs = set(args.addrmask)
    INIT, INIT_ACK, ABORT, COOKIE_ECHO, SHUTDOWN_COMPLETE = 1, 2, 6, 10, 14

    def ip_reply(pkt):
        if IP in pkt:
            return IP(src=pkt[IP].dst, dst=pkt[IP].src)
        return IPv6(src=pkt[IPv6].dst, dst=pkt[IPv6].src)

    def abort_for(pkt, sctp, chunk_type):
        if chunk_type == INIT:
            tag, flags = sctp[SCTPChunkInit].init_tag, 0
        else:
            tag, flags = sctp.tag, 1  # T bit: the tag is reflected
        return ip_reply(pkt) / SCTP(sport=sctp.dport, dport=sctp.sport, tag=tag) / SCTPChunkAbort(TCB=flags)

    def handle(pkt):
        if ICMP in pkt and pkt[ICMP].type == 17 and IP in pkt and pkt[IP].dst in mask_addrs:
            reply = IP(src=pkt[IP].dst, dst=pkt[IP].src) / ICMP(type=18, id=pkt[ICMP].id, seq=pkt[ICMP].seq) \
                / Raw(b"\xff\xff\xff\x00")
            send(reply, verbose=False)
            return
        if SCTP not in pkt:
            return
        sctp = pkt[SCTP]
        chunk_type = sctp.payload.type if sctp.payload else None
        port = sctp.dport
        reply = None
        if port in open_ports or port in simple:
            if chunk_type == INIT:
                init = sctp[SCTPChunkInit]
                reply = ip_reply(pkt) / SCTP(sport=port, dport=sctp.sport, tag=init.init_tag) / SCTPChunkInitAck(
                    init_tag=0x5C7A0001 ^ port, a_rwnd=106496, n_out_streams=10, n_in_streams=10, init_tsn=1,
                    params=[SCTPChunkParamStateCookie(cookie=b"pcapscan-lab-cookie!")])
            elif port in simple and chunk_type not in (ABORT,):
                reply = abort_for(pkt, sctp, chunk_type)
            elif port in open_ports and chunk_type not in (COOKIE_ECHO, ABORT, SHUTDOWN_COMPLETE, INIT_ACK):
                reply = abort_for(pkt, sctp, chunk_type)
        elif port in closed and chunk_type != ABORT:
            reply = abort_for(pkt, sctp, chunk_type)
        if reply is not None:
            send(reply, verbose=False)

    flt = "sctp or ip6 proto 132 or icmp[0] == 17"
    _run(AsyncSniffer(iface=args.iface, filter=flt, prn=handle, store=False))


def _zombie(args) -> None:
    from scapy.all import AsyncSniffer, IP, TCP, send

    state = {"ipid": args.start_ipid}
    lock = threading.Lock()

    def handle(pkt):
        if IP not in pkt or TCP not in pkt or pkt[IP].dst != args.addr or pkt[TCP].flags & 0x04:
            return
        tcp = pkt[TCP]
        with lock:
            state["ipid"] = (state["ipid"] + 1) & 0xFFFF
            ipid = state["ipid"]
        if tcp.flags & 0x10:  # RFC 793: a RST to a segment with ACK takes its seq from SEG.ACK
            reply = TCP(sport=tcp.dport, dport=tcp.sport, flags="R", seq=tcp.ack, window=0)
        else:  # ... otherwise it is RST/ACK acknowledging the segment
            seg_len = len(tcp.payload) + (1 if tcp.flags & 0x02 else 0) + (1 if tcp.flags & 0x01 else 0)
            reply = TCP(sport=tcp.dport, dport=tcp.sport, flags="RA", seq=0, ack=(tcp.seq + seg_len) & 0xFFFFFFFF,
                        window=0)
        send(IP(src=args.addr, dst=pkt[IP].src, id=ipid, ttl=64) / reply, verbose=False)

    flt = f"tcp and dst host {args.addr}"
    _run(AsyncSniffer(iface=args.iface, filter=flt, prn=handle, store=False))


def _run(sniffer) -> None:
    ready = threading.Event()
    sniffer.kwargs["started_callback"] = ready.set
    sniffer.start()
    if not ready.wait(30):
        print("sniffer did not start", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ready", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sniffer.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sctp")
    s.add_argument("--iface", required=True)
    s.add_argument("--open", type=int, action="append", default=[])
    s.add_argument("--open-simple", type=int, action="append", default=[])
    s.add_argument("--closed", type=int, action="append", default=[])
    s.add_argument("--addrmask", action="append", default=[])
    z = sub.add_parser("zombie")
    z.add_argument("--iface", required=True)
    z.add_argument("--addr", required=True)
    z.add_argument("--start-ipid", type=int, default=1000)
    args = ap.parse_args(argv)
    (_sctp if args.cmd == "sctp" else _zombie)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
