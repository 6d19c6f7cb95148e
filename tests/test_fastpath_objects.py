"""The fast path's Python objects: shared where values repeat, the same values as before."""
import numpy as np

from pcapscan.fastpath.columns import AddressBook
from pcapscan.fastpath.flows import listed


def test_listed_16_bit_columns_share_one_int_per_value():
    col = np.array([80, 65535, 80, 0, 443], np.uint16)
    out = listed(col)
    assert out == [80, 65535, 80, 0, 443] and all(type(v) is int for v in out)
    assert out[0] is out[2]
    big = listed(np.array([70000, 70000], np.uint32))  # other columns: as tolist() gives them
    assert big == [70000, 70000]


def test_address_ids_of_texts_are_remembered_and_stable():
    book = AddressBook()
    assert book.id_of("10.0.0.1") == (10 << 24) + 1 == book.id_of("10.0.0.1")
    a = book.id_of("2001:db8::1")
    assert book.id_of("2001:db8::1") == a != book.id_of("2001:db8::2")
    assert book.text(a) == "2001:db8::1"
