"""pcapscan: read packet captures of port scans and tell, port by port, what
the scan found, whether the traffic behaves as the textbook says, and why not.

    >>> import pcapscan
    >>> result = pcapscan.analyze("captures/golden/syn.pcap")
    >>> [(p.port, p.state.value) for s in result.scans for p in s.ports]
"""
__version__ = "0.1.0"


def analyze(path_or_paths, technique=None):
    """Analyze one capture (errors raise pcapscan.errors.PcapscanError) or a
    list of them (errors are collected in the result). See analysis.analyze."""
    from .analysis import analyze as _analyze

    return _analyze(path_or_paths, technique=technique)
