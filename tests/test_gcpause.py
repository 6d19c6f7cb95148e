"""gcpause: cyclic collection paused, resumed, and resumed for young objects only."""
import gc
import weakref

from pcapscan.gcpause import cyclic_gc, no_cyclic_gc, young_cyclic_gc
from pcapscan.model import flag_letters


class Node:
    def __init__(self):
        self.me = self  # a cycle: only the cyclic collector frees it


def test_no_cyclic_gc_pauses_and_restores():
    assert gc.isenabled()
    with no_cyclic_gc():
        assert not gc.isenabled()
        with cyclic_gc():
            assert gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_young_cyclic_gc_frees_new_cycles_and_leaves_old_objects_unfrozen():
    gc.unfreeze()  # nothing frozen before (an earlier test in this process may have: the Dask run's result)
    old = Node()
    with no_cyclic_gc():
        with young_cyclic_gc():
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0  # what existed before is frozen
            young = Node()
            ref = weakref.ref(young)
            del young
            gc.collect()
            assert ref() is None  # a cycle made inside is collected
            last = Node()
            last_ref = weakref.ref(last)
            del last  # garbage as the block ends: collected then, not left to a paused collector
        assert last_ref() is None
        assert not gc.isenabled()
        assert gc.get_freeze_count() == 0
    assert gc.is_tracked(old)


def test_young_cyclic_gc_keeps_an_earlier_freeze():
    gc.freeze()
    try:
        with young_cyclic_gc():
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_flag_letters_table_matches_the_bits():
    assert flag_letters(0x12) == "SA"
    assert flag_letters(0x29) == "FPU"
    assert flag_letters(0) == ""
    assert flag_letters(0xFF) == "FSRPAUEC"
    assert flag_letters(0x1C2) == "SEC"  # bits past the byte are not flags
