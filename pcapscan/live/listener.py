"""Tiny port listeners for the lab's target namespace (stdlib only).

    python3 -m pcapscan.live.listener --tcp 80 --udp 53

TCP ports get an accept loop that accepts each connection and closes it at
once; UDP ports get a responder that answers every datagram with a few bytes
(so nmap -sU sees a UDP response and says "open"). Every port is bound on the
IPv4 and, when the namespace has IPv6, the IPv6 wildcard address. Once all
sockets are bound and listening the process prints one line starting with
"ready" and flushing stdout; Lab.start_listeners waits for that line. It runs
until killed (SIGTERM/SIGINT) and logs nothing per packet.
"""
from __future__ import annotations

import argparse
import selectors
import signal
import socket
import sys

UDP_ANSWER = b"pcapscan\n"


def _bind(family: int, kind: int, port: int) -> socket.socket:
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(("::", port))
    else:
        sock.bind(("0.0.0.0", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    sock.setblocking(False)
    return sock


def _families() -> list[int]:
    families = [socket.AF_INET]
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
        families.append(socket.AF_INET6)
    except OSError:
        pass
    return families


def serve(tcp_ports: list[int], udp_ports: list[int]) -> None:
    sel = selectors.DefaultSelector()
    families = _families()
    for port in tcp_ports:
        for fam in families:
            sel.register(_bind(fam, socket.SOCK_STREAM, port), selectors.EVENT_READ, "tcp")
    for port in udp_ports:
        for fam in families:
            sel.register(_bind(fam, socket.SOCK_DGRAM, port), selectors.EVENT_READ, "udp")
    v6 = "yes" if socket.AF_INET6 in families else "no"
    print(f"ready tcp={','.join(map(str, tcp_ports))} udp={','.join(map(str, udp_ports))} ipv6={v6}",
          flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            try:
                if key.data == "tcp":
                    conn, _ = sock.accept()
                    conn.close()
                else:
                    _, peer = sock.recvfrom(65535)
                    sock.sendto(UDP_ANSWER, peer)
            except OSError:
                continue  # a reset before accept, an ICMP error queued on the socket: ignore


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip()] if text else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m pcapscan.live.listener", description=__doc__.splitlines()[0])
    ap.add_argument("--tcp", default="", help="comma-separated TCP ports to accept-and-close on")
    ap.add_argument("--udp", default="", help="comma-separated UDP ports to answer on")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(_ports(args.tcp), _ports(args.udp))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
