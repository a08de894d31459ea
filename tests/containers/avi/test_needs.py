"""What the AVI parser asks for: headers, ``hdrl``, then the index; nothing of the media."""

from __future__ import annotations

import re
import struct

from torframes.containers.base import ByteRange
from torframes.containers.reading import merge_ranges

from .conftest import drive_bytes


def _top_chunks(data: bytes, start: int, stop: int) -> dict[bytes, tuple[int, int]]:
    """First place ``(start, end)`` of each top-level chunk or list (by list type) in a RIFF."""
    found: dict[bytes, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= stop:
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        name = data[pos + 8 : pos + 12] if fourcc in (b"LIST", b"RIFF") else fourcc
        found.setdefault(name, (pos, pos + 8 + size))
        pos += 8 + size + (size & 1)
    return found


def _inside(ranges, start: int, stop: int) -> bool:
    return any(r.start <= start and stop <= r.stop for r in ranges)


def test_idx1_file_reads_headers_hdrl_one_movi_chunk_header_and_idx1(avi_file) -> None:
    data = avi_file("mpeg4-pcm").read_bytes()
    top = _top_chunks(data, 12, len(data))
    driven = drive_bytes(data)
    read = [r for need in driven.needs for r in need.ranges]
    hdrl, movi, idx1 = top[b"hdrl"], top[b"movi"], top[b"idx1"]
    assert _inside(driven.index.index_ranges, *hdrl)
    assert _inside(driven.index.index_ranges, *idx1)
    # of movi: its list header and the first chunk's header, nothing of the media
    in_movi = [r for r in read if movi[0] <= r.start < movi[1]]
    assert sum(r.length for r in in_movi) == 12 + 8
    assert driven.read == sum(r.length for r in driven.index.index_ranges)
    assert driven.read < len(data) / 4
    assert ("movi", ByteRange(*movi)) in driven.index.layout


def test_odml_file_asks_for_every_index_chunk_in_one_need(avi_file) -> None:
    data = avi_file("h264-pcm-odml-avix").read_bytes()
    ix_chunks = [
        (m.start(), m.start() + 8 + struct.unpack_from("<I", data, m.start() + 4)[0])
        for m in re.finditer(rb"ix0[01]", data)
        if data[m.start() - 1 : m.start()] != b"d"  # not inside a chunk's payload by chance
    ]
    assert len(ix_chunks) >= 6
    assert data.count(b"AVIX") == 2
    driven = drive_bytes(data)
    (need,) = [n for n in driven.needs if "OpenDML index chunk" in n.reason]
    assert need is driven.needs[-1]
    assert need.ranges == merge_ranges(ByteRange(a, b) for a, b in ix_chunks)
    assert driven.read == sum(r.length for r in driven.index.index_ranges)
    assert driven.index.tracks["indexed_by"].tolist() == ["indx", "indx"]
