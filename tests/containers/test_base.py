"""ByteRange and ByteStore, the parsers' shared byte bookkeeping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torframes.containers.base import ByteRange, ByteStore, Need
from torframes.errors import IndexTooLarge


def test_byte_range():
    r = ByteRange(10, 20)
    assert (r.length, len(r)) == (10, 10)
    assert r.clip(15) == ByteRange(10, 15)
    assert r.clip(5) == ByteRange(5, 5)
    assert ByteRange(0, 0).length == 0
    assert sorted([ByteRange(5, 6), ByteRange(1, 9)]) == [ByteRange(1, 9), ByteRange(5, 6)]
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(5, 4)
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(-1, 4)


def test_need():
    need = Need((ByteRange(0, 4), ByteRange(10, 12)), "why")
    assert need.length == 6
    with pytest.raises(ValueError, match="at least one"):
        Need(())


def test_store_joins_adjacent_feeds():
    store = ByteStore(100, 1000)
    store.add(0, b"abcd")
    store.add(4, b"efgh")
    assert bytes(store.get(2, 6)) == b"cdef"
    assert store.get(6, 9) is None
    assert store.missing(0, 12) == [ByteRange(8, 12)]
    assert store.has(0, 8)
    assert not store.has(0, 9)
    assert bytes(store.get(3, 3)) == b""


def test_store_keeps_first_bytes_and_drops_past_the_end():
    store = ByteStore(10, 1000)
    store.add(2, b"xyz")
    store.add(0, b"ABCDEFGHIJKLMN")
    assert bytes(store.get(0, 10)) == b"ABxyzFGHIJ"
    assert store.held == 10


def test_store_budget_and_discard():
    store = ByteStore(100, 8)
    store.add(0, b"12345678")
    with pytest.raises(IndexTooLarge, match="more than 8 bytes"):
        store.add(50, b"x")
    store.discard(4)
    assert store.held == 4
    assert bytes(store.get(4, 8)) == b"5678"
    assert store.spans() == [(4, b"5678")]
    with pytest.raises(ValueError, match="negative"):
        store.add(-1, b"x")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20)), max_size=12))
def test_store_matches_a_plain_buffer(feeds):
    size = 64
    truth = bytes(range(size))
    store = ByteStore(size, 10_000)
    held = [False] * size
    for start, length in feeds:
        store.add(start, truth[start : start + length])
        for i in range(start, min(size, start + length)):
            held[i] = True
    for a in range(0, size, 7):
        for b in range(a, size + 1, 5):
            got = store.get(a, b)
            if all(held[a:b]):
                assert bytes(got) == truth[a:b]
            else:
                assert got is None
            gaps = [i for r in store.missing(a, b) for i in range(r.start, r.stop)]
            assert gaps == [i for i in range(a, b) if not held[i]]
