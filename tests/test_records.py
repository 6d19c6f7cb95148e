"""model.records: a batch of frozen dataclass records made without their __init__ are the
records __init__ makes (fastpath/flows.make_packets makes the complex flows' Packets so)."""
from dataclasses import dataclass, fields

import numpy as np
import pytest

from pcapscan.fastpath.columns import AddressBook, OptionBook
from pcapscan.fastpath.flows import ROW_FIELDS, make_packets
from pcapscan.model import Packet, Quoted, records


def _rows():
    return [dict(frame=1, ts=0.25, src="198.18.0.1", dst="198.18.0.2", proto="tcp", ttl=44, ip_id=7, length=44,
                 sport=40000, dport=80, flags=0x02, seq=123, ack=0, window=1024, options=(2,), mss=1460),
            dict(frame=2, ts=0.5, src="198.18.0.2", dst="198.18.0.1", proto="udp", ip_version=6, length=28,
                 sport=53, dport=40000, payload_len=5, ip_proto=17),
            dict(frame=3, ts=0.75, src="198.18.0.2", dst="198.18.0.1", proto="icmp", icmp_type=3, icmp_code=3,
                 quoted=Quoted("198.18.0.1", "198.18.0.2", "udp", 40000, 53))]


def test_records_are_the_dataclass_s_own():
    rows = _rows()
    names = {k for r in rows for k in r}
    got = records(Packet, {k: [r.get(k, Packet.__dataclass_fields__[k].default) for r in rows] for k in names})
    want = [Packet(**r) for r in rows]
    assert got == want
    assert [hash(p) for p in got] == [hash(p) for p in want]
    assert [repr(p) for p in got] == [repr(p) for p in want]
    assert all(type(p) is Packet for p in got)
    with pytest.raises(AttributeError):  # still frozen
        got[0].ttl = 1


def test_records_take_defaults_and_refuse_a_missing_required_field():
    got = records(Packet, {"frame": [5], "ts": [1.0], "src": ["a"], "dst": ["b"], "proto": ["tcp"]})
    assert got == [Packet(frame=5, ts=1.0, src="a", dst="b", proto="tcp")]
    assert got[0].options == () and got[0].mss is None and got[0].quoted is None
    with pytest.raises(TypeError):
        records(Packet, {"frame": [5], "ts": [1.0], "src": ["a"], "dst": ["b"]})
    assert records(Packet, {"frame": []}) == []


def test_records_of_a_class_whose_init_does_more():
    @dataclass(frozen=True)
    class Plain:  # no slots: its __init__ fills a __dict__
        a: int
        b: str = "x"

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self):
            if self.a < 0:
                raise ValueError(self.a)

    assert records(Plain, {"a": [1, 2]}) == [Plain(1), Plain(2)]
    assert records(Checked, {"a": [3]}) == [Checked(3)]
    with pytest.raises(ValueError):
        records(Checked, {"a": [-1]})


def test_make_packets_tcp_and_udp_rows():
    """make_packets' Packets, row by row as decode_frame makes them: a UDP row has no TCP fields
    whatever its columns hold, an MSS of -1 is none, an IPv6 address id is version 6."""
    addrs, options = AddressBook(), OptionBook()
    a, b = addrs.id_of("198.18.0.1"), addrs.id_of("198.18.0.2")
    c, d = addrs.id_of("2001:db8::1"), addrs.id_of("2001:db8::2")
    mss_opts = options.id_of((2, 4, 8, 1, 3))
    cols = {"frame": [1, 2, 3, 4], "ts": [0.1, 0.2, 0.3, 0.4], "src": [a, b, c, a], "dst": [b, a, d, b],
            "udp": [False, True, False, True], "ttl": [44, 64, 64, 50], "ip_id": [1, 2, 0, 4],
            "length": [44, 33, 60, 28], "sport": [40000, 53, 1234, 40001], "dport": [80, 40000, 443, 161],
            "flags": [0x02, 0x12, 0x12, 0], "seq": [5, 9, 77, 0], "ack": [0, 6, 6, 0], "window": [1024, 7, 65535, 0],
            "opt": [mss_opts, mss_opts, 0, 0], "mss": [1460, 1400, -1, -1], "payload": [0, 5, 0, 0]}
    types = {"frame": np.uint32, "ts": np.float64, "src": np.int64, "dst": np.int64, "udp": bool, "ttl": np.uint8,
             "ip_id": np.uint16, "length": np.uint32, "sport": np.uint16, "dport": np.uint16, "flags": np.uint8,
             "seq": np.uint32, "ack": np.uint32, "window": np.uint16, "opt": np.uint16, "mss": np.int32,
             "payload": np.uint32}
    assert set(types) == set(ROW_FIELDS)
    got = make_packets({k: np.array(v, types[k]) for k, v in cols.items()}, addrs, options)
    want = [Packet(frame=1, ts=0.1, src="198.18.0.1", dst="198.18.0.2", proto="tcp", ttl=44, ip_id=1, length=44,
                   sport=40000, dport=80, flags=0x02, seq=5, window=1024, options=(2, 4, 8, 1, 3), mss=1460,
                   ip_proto=6),
            Packet(frame=2, ts=0.2, src="198.18.0.2", dst="198.18.0.1", proto="udp", ttl=64, ip_id=2, length=33,
                   sport=53, dport=40000, payload_len=5, ip_proto=17),
            Packet(frame=3, ts=0.3, src="2001:db8::1", dst="2001:db8::2", proto="tcp", ip_version=6, ttl=64,
                   length=60, sport=1234, dport=443, flags=0x12, seq=77, ack=6, window=65535, ip_proto=6),
            Packet(frame=4, ts=0.4, src="198.18.0.1", dst="198.18.0.2", proto="udp", ttl=50, ip_id=4, length=28,
                   sport=40001, dport=161, ip_proto=17)]
    assert got == want
    assert [type(getattr(p, f.name)) for p in got for f in fields(Packet)] == \
        [type(getattr(p, f.name)) for p in want for f in fields(Packet)]
    tcp_only = make_packets({k: np.array(v, types[k])[[0, 2]] for k, v in cols.items()}, addrs, options)
    assert tcp_only == [want[0], want[2]]
