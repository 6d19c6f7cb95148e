"""What answers what is defined once (exchanges.tcp_answers, never_probes):
the ordinary engine asks it packet by packet (exchanges.answers,
probe_class), the fast path's flow table on its columns. A property test
feeds the same probe/answer pairs to both and wants the same decisions."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapscan.exchanges import answers, probe_class
from pcapscan.fastpath.columns import AddressBook, Decoded, OptionBook
from pcapscan.fastpath.flows import ANS_OK, COMPLEX, N2, PROBE_OK, FlowTable, group_ids
from pcapscan.model import Packet

S, T = "198.18.0.1", "198.18.0.2"
U32 = st.integers(0, (1 << 32) - 1)


@st.composite
def pairs(draw):
    """(probe flags, seq, ack, payload, answer flags, seq, ack): the answer's
    numbers often the ones that answer (seq + segment length, the probe's ack), off by one, or anything."""
    pf, rf = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    seq, ack = draw(U32), draw(U32)
    payload = draw(st.sampled_from([0, 0, 1, 40]))
    seg = payload + bool(pf & 0x02) + bool(pf & 0x01)
    rack = draw(st.sampled_from([(seq + seg) % (1 << 32), (seq + seg + 1) % (1 << 32), seq])) if draw(st.booleans()) \
        else draw(U32)
    rseq = draw(st.sampled_from([ack, (ack + 1) % (1 << 32)])) if draw(st.booleans()) else draw(U32)
    return pf, seq, ack, payload, rf, rseq, rack


def _packets(i, pf, seq, ack, payload, rf, rseq, rack):
    probe = Packet(2 * i + 1, 1.0 + i, S, T, "tcp", 4, 64, 1, 40 + payload, 10000 + i, 80, pf, seq, ack, 1024,
                   payload_len=payload, ip_proto=6)
    resp = Packet(2 * i + 2, 1.5 + i, T, S, "tcp", 4, 64, 2, 40, 80, 10000 + i, rf, rseq, rack, 0, ip_proto=6)
    return probe, resp


def _decoded(packets, addrs: AddressBook) -> Decoded:
    """The packets as the bulk decoder's columns."""
    col = lambda name, dtype=np.int64: np.array([getattr(p, name) for p in packets], dtype)  # noqa: E731
    n = len(packets)
    return Decoded(
        frame=col("frame"), ts=col("ts", np.float64), fileoff=np.zeros(n, np.int64),
        src=np.array([addrs.id_of(p.src) for p in packets], np.int64),
        dst=np.array([addrs.id_of(p.dst) for p in packets], np.int64), udp=np.zeros(n, bool), ttl=col("ttl", np.uint8),
        ip_id=col("ip_id"), length=col("length"), sport=col("sport"), dport=col("dport"), flags=col("flags"),
        seq=col("seq"), ack=col("ack"), window=col("window"), opt=np.zeros(n, np.int32), mss=np.full(n, -1, np.int64),
        payload=col("payload_len"))


@settings(max_examples=300, deadline=None)
@given(st.lists(pairs(), min_size=1, max_size=40))
def test_flow_table_decides_as_the_engine(cases):
    """Per flow of one probe and one answer: the flow table takes the probe
    as one exactly when probe_class does, and marks the answer as answering
    exactly when exchanges.answers says it does."""
    probes, resps = zip(*(_packets(i, *c) for i, c in enumerate(cases)))
    addrs, options = AddressBook(), OptionBook()
    table = FlowTable(addrs, options)
    table.feed(_decoded(list(probes) + list(resps), addrs), [])
    state = table.state.v
    assert len(state) == len(cases)  # one flow per pair, numbered in order of first appearance
    for fid, (probe, resp) in enumerate(zip(probes, resps)):
        opens = probe_class(probe) is not None
        assert bool(state[fid] & PROBE_OK) == opens and bool(state[fid] & COMPLEX) == (not opens)
        if opens:
            assert state[fid] & N2
            assert bool(state[fid] & ANS_OK) == answers(probe, resp), (probe, resp)


def test_the_pairs_cover_both_decisions():
    """The generator reaches answers and non-answers after both kinds of probe (with ACK, without)."""
    seen = set()
    for i, (pf, rf, ack_right, seq_right) in enumerate([(0x02, 0x12, True, False), (0x02, 0x12, False, False),
                                                         (0x10, 0x04, False, True), (0x10, 0x04, False, False)]):
        seq, ack = 1000, 5000
        probe, resp = _packets(i, pf, seq, ack, 0, rf, ack if seq_right else 7, seq + 1 if ack_right else 9)
        seen.add((pf, answers(probe, resp)))
    assert seen == {(0x02, True), (0x02, False), (0x10, True), (0x10, False)}


def test_flow_table_tells_group_addresses_as_the_engine():
    """A probe to a multicast or broadcast address is no probe on either path (exchanges.is_group_address)."""
    from pcapscan.exchanges import is_group_address

    addrs = AddressBook()
    texts = ["198.18.0.2", "224.0.0.251", "239.255.255.250", "198.18.0.255", "255.255.255.255", "240.0.0.1",
             "ff02::1", "fe80::1", "2001:db8::ff"]
    ids = np.array([addrs.id_of(a) for a in texts * 2], np.int64)
    assert group_ids(ids, addrs, {}).tolist() == [is_group_address(a) for a in texts * 2]
    assert sum(is_group_address(a) for a in texts) == 5
