"""Pure parts of the torrent layer: piece arithmetic, the piece cache, stats, file layouts."""

from __future__ import annotations

import libtorrent
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torframes.errors import NoSuchFile
from torframes.torrent.cache import PieceCache
from torframes.torrent.files import FILE_DTYPES, FileLayout
from torframes.torrent.pieces import piece_range, piece_size, slice_pieces
from torframes.torrent.stats import TorrentStats

KiB = 1024


def test_piece_range_examples() -> None:
    assert piece_range(0, 1, 16) == range(0, 1)
    assert piece_range(15, 2, 16) == range(0, 2)
    assert piece_range(16, 16, 16) == range(1, 2)
    assert piece_range(16, 17, 16) == range(1, 3)
    assert piece_range(40, 0, 16) == range(2, 2)
    with pytest.raises(ValueError, match="negative"):
        piece_range(-1, 3, 16)
    with pytest.raises(ValueError, match="positive"):
        piece_range(0, 3, 0)


# No per-example deadline: on a loaded machine a wall-clock limit fails correct code.
@settings(deadline=None)
@given(
    offset=st.integers(0, 10**9),
    length=st.integers(1, 10**7),
    piece_length=st.sampled_from([16 * KiB, 32 * KiB, 256 * KiB, 4096 * KiB]),
)
def test_piece_range_covers_exactly(offset: int, length: int, piece_length: int) -> None:
    pieces = piece_range(offset, length, piece_length)
    assert pieces.start * piece_length <= offset < (pieces.start + 1) * piece_length
    last_byte = offset + length - 1
    assert (pieces.stop - 1) * piece_length <= last_byte < pieces.stop * piece_length


@settings(deadline=None)
@given(
    total=st.integers(1, 10**6),
    piece_length=st.sampled_from([16, 100, 16 * KiB]),
    data=st.data(),
)
def test_slicing_pieces_gives_the_range(total: int, piece_length: int, data: st.DataObject) -> None:
    blob = bytes(i % 251 for i in range(total))
    offset = data.draw(st.integers(0, total - 1))
    length = data.draw(st.integers(0, total - offset))
    pieces = piece_range(offset, max(length, 1), piece_length)
    chunks = [blob[i * piece_length : (i + 1) * piece_length] for i in pieces]
    assert [len(c) for c in chunks] == [piece_size(i, piece_length, total) for i in pieces]
    assert (
        slice_pieces(chunks, pieces.start, offset, length, piece_length)
        == blob[offset : offset + length]
    )


def test_slice_pieces_refuses_missing_bytes() -> None:
    with pytest.raises(ValueError, match="hold 16 of the 20"):
        slice_pieces([b"x" * 16], 0, 0, 20, 16)
    with pytest.raises(ValueError, match="comes before"):
        slice_pieces([b"x" * 16], 1, 0, 4, 16)
    with pytest.raises(ValueError, match="not in"):
        piece_size(3, 16, 48)


def test_piece_cache_is_bounded_by_bytes() -> None:
    cache = PieceCache(max_bytes=10)
    cache.put(("t", 0), b"aaaa")
    cache.put(("t", 1), b"bbbb")
    assert cache.get(("t", 0)) == b"aaaa"  # now the most recent
    cache.put(("u", 2), b"cccc")  # evicts ("t", 1)
    assert cache.get(("t", 1)) is None
    assert len(cache) == 2
    assert cache.size == 8
    cache.put(("u", 3), b"x" * 11)  # larger than the cache: not kept
    assert cache.get(("u", 3)) is None
    assert cache.size == 8
    cache.put(("t", 0), b"dd")  # replacing adjusts the size
    assert cache.size == 6
    cache.discard_where("u")
    assert len(cache) == 1
    assert cache.size == 2
    cache.clear()
    assert len(cache) == 0
    assert cache.size == 0
    assert PieceCache(0).get("anything") is None


def test_stats_are_frozen_and_export_plain_types() -> None:
    stats = TorrentStats(1, 16384, 0, 0, 1, added_at=10.0, metadata_at=10.5, piece_times={3: 0.7})
    assert stats.metadata_seconds == 0.5
    assert stats.to_dict() == {
        "pieces_fetched": 1,
        "bytes_fetched": 16384,
        "redundant_bytes": 0,
        "failed_bytes": 0,
        "rounds": 1,
        "added_at": 10.0,
        "metadata_at": 10.5,
        "piece_times": {3: 0.7},
        "metadata_seconds": 0.5,
    }
    with pytest.raises(TypeError):
        stats.piece_times[4] = 1.0  # type: ignore[index]


def make_info(sizes: dict[str, int], piece: int, flags: int) -> libtorrent.torrent_info:
    """Metadata for files that need not exist: hashes are set by hand."""
    creator = libtorrent.create_torrent(
        [libtorrent.create_file_entry(name, size) for name, size in sizes.items()], piece, flags
    )
    for index in range(creator.num_pieces()):
        creator.set_hash(index, b"\x01" * 20)
    return libtorrent.torrent_info(libtorrent.bencode(creator.generate()))


def test_layout_of_a_v1_torrent_with_canonical_padding() -> None:
    create = libtorrent.create_torrent
    info = make_info(
        {"t/a": 100, "t/b": 40 * KiB, "t/c": 0, "t/d": 1},
        16 * KiB,
        create.v1_only | create.canonical_files,
    )
    layout = FileLayout.from_torrent_info(info)
    by_path = {entry.path: entry for entry in layout.files}
    assert not layout.v2_only
    # a, b and d are aligned; the empty file c takes no piece
    assert by_path["t/a"].offset == 0
    assert by_path["t/a"].piece_last == 0
    assert by_path["t/b"].offset == 16 * KiB
    assert (by_path["t/b"].piece_first, by_path["t/b"].piece_last) == (1, 3)
    assert by_path["t/c"].piece_last == by_path["t/c"].piece_first - 1
    assert by_path["t/d"].offset == 64 * KiB
    assert layout.num_pieces == 5
    assert layout.total_size == 80 * KiB
    # pad bytes: pieces ending in padding are still fetched whole when
    # the padding is less than one 16 KiB block
    assert layout.transfer_size(0) == 16 * KiB
    table = layout.table()
    assert dict(table.dtypes.astype(str)) == FILE_DTYPES
    assert list(table.index) == list(table["index"]) == [e.index for e in layout.files]
    assert layout.entry("a") is layout.entry("t/a") is layout.entry(by_path["t/a"].index)
    with pytest.raises(NoSuchFile, match="no file with index 1"):
        layout.entry(1)  # the pad file after a
    with pytest.raises(NoSuchFile):
        layout.entry(None)  # type: ignore[arg-type]
