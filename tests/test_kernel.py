"""One definition of what a scanner's own kernel sends (pcapscan/kernel.py),
so that compare ("who sent each RST"), fingerprint and verify (kernel-rst,
handshake-incomplete) name the same sender for the same RST."""
from dataclasses import replace

import pytest

from packets import reply_to, tcp

from pcapscan import compare, fingerprint, kernel, verify
from pcapscan.model import Exchange, PortResult, Scan, Technique
from pcapscan.techniques import classify

PROBE = tcp(1, "S", sport=40000, seq=1000)
SYNACK = reply_to(2, PROBE, "SA", seq=9000)  # ack 1001
KERNEL_RST = tcp(3, "R", sport=40000, seq=1001, window=0, options=())


def test_the_kernels_rst_is_bare_window_0_and_numbered_from_the_synack():
    assert kernel.is_kernel_rst(KERNEL_RST, [SYNACK])


@pytest.mark.parametrize("name,rst", [
    ("RST/ACK: a tool's", replace(KERNEL_RST, flags=0x14)),
    ("non-zero window: a tool's", replace(KERNEL_RST, window=1024)),
    ("carries payload", replace(KERNEL_RST, payload_len=4)),  # verify's test had it, fingerprint's did not
    ("to another port", replace(KERNEL_RST, dport=81)),  # fingerprint's test had it, verify's did not
    ("from another port", replace(KERNEL_RST, sport=40001)),
    ("seq not the SYN/ACK's ack", replace(KERNEL_RST, seq=1000)),
])
def test_anything_else_is_not_the_kernels(name, rst):
    assert not kernel.is_kernel_rst(rst, [SYNACK]), name


def test_congestion_marks_do_not_change_it():
    assert kernel.is_kernel_rst(replace(KERNEL_RST, flags=0x04 | 0x40), [SYNACK])


def test_compare_and_verify_name_the_same_sender():
    """compare.classify_rst and verify's rules read the one function: a RST to
    another port (verify used to call it the kernel's) and a RST with payload
    (compare used to) are the tool's in both."""
    assert verify.is_kernel_rst is compare.is_kernel_rst is fingerprint.is_kernel_rst is kernel.is_kernel_rst
    for rst, sender in ((KERNEL_RST, "kernel"), (replace(KERNEL_RST, dport=81), "tool"),
                        (replace(KERNEL_RST, payload_len=4), "tool")):
        ex = Exchange(scanner=PROBE.src, target=PROBE.dst, proto="tcp", port=80, probes=(PROBE,),
                      responses=(SYNACK,), followups=(rst,))
        assert compare.classify_rst(rst, ex).sender == sender
        pr = PortResult("tcp", 80, classify(Technique.SYN, ex), ex)
        scan = Scan(capture="x.pcap", scanner=PROBE.src, target=PROBE.dst, technique=Technique.SYN, ports=(pr,))
        case = verify.PortCase("x.pcap", scan, pr, None, (PROBE, SYNACK, rst), ())
        said_kernel = [h.text.key for h in verify.kernel_rst(case)] == ["kernel-rst"]
        assert said_kernel is (sender == "kernel")
