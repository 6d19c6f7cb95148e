import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # the small fixture modules (packets.py, ...)

SHARED_CAPTURES = ROOT.parent / "shared" / "captures"
GOLDEN = ROOT / "captures" / "golden"


@pytest.fixture
def shared_captures():
    if not SHARED_CAPTURES.is_dir():
        pytest.skip(f"{SHARED_CAPTURES} is absent (CI has it beside the checkout)")
    return SHARED_CAPTURES
