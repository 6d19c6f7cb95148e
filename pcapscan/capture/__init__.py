"""Reading packet captures: pcap, pcapng and gzip containers, decoded into
`model.Packet`s.

    stats = ReadStats(path)
    for pkt in read_packets(path, stats):
        ...
"""
from .containers import MAX_RECORD_LEN, Capture, ReadStats, open_capture, read_packets
from .decode import LINKTYPE_NAMES, decode_frame, linktype_name

__all__ = [
    "read_packets",
    "ReadStats",
    "decode_frame",
    "open_capture",
    "Capture",
    "LINKTYPE_NAMES",
    "linktype_name",
    "MAX_RECORD_LEN",
]
