"""Find and validate: locate ``moov`` where the box chain cannot be followed.

Some files break the chain of top-level headers: an ``mdat`` whose size
runs past the end of the file, an ``mdat`` of size 0 (to the end of the
file) with ``moov`` after it anyway, garbage where a header should be.
Then ``moov`` is searched for by its type bytes in a window of the file
(the tail first, where a muxer that could not rewrite the ``mdat`` size
leaves it), and a hit is accepted only if its box holds a parsable
``mvhd`` and at least one ``trak`` whose chunk offsets fall inside the
file: four bytes ``moov`` inside compressed media are rejected there.
"""

from __future__ import annotations

import struct

from torframes.containers.base import IndexLimits
from torframes.containers.mp4.boxes import BoxHeader, is_box_type
from torframes.containers.mp4.moov import Movie, parse_moov
from torframes.errors import MalformedContainer

__all__ = ["find_moov_headers", "validate_moov"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def find_moov_headers(
    data: bytes,
    base: int,
    file_size: int,
    max_size: int,
    lo: int = 0,
    hi: int | None = None,
) -> tuple[list[BoxHeader], list[BoxHeader]]:
    """``moov`` headers whose type lies in ``data[lo:hi]`` (``data[0]`` at file offset ``base``).

    A hit needs a size that fits the file and whose first child (when held)
    has a box type. Returns (candidates no larger than ``max_size``, larger
    ones), latest first. ``data`` is searched in place, not copied.
    """
    raw = data
    hi = len(raw) if hi is None else hi
    found: list[BoxHeader] = []
    too_large: list[BoxHeader] = []
    at = raw.find(b"moov", max(4, lo), hi)
    while at >= 0:
        start = at - 4
        size, header = _U32.unpack_from(raw, start)[0], 8
        if size == 1 and at + 12 <= len(raw):
            size, header = _U64.unpack_from(raw, at + 4)[0], 16
        elif size == 0:
            size = file_size - (base + start)
        child = start + header + 4
        plausible = (
            (header == 16 or size != 1)
            and size >= header + 8
            and base + start + size <= file_size
            and (child + 4 > len(raw) or is_box_type(raw[child : child + 4]))
        )
        if plausible:
            box = BoxHeader(b"moov", base + start, size, header)
            (found if size <= max_size else too_large).append(box)
        at = raw.find(b"moov", at + 1, hi)
    found.reverse()
    return found, too_large


def validate_moov(
    data: bytes | memoryview, box: BoxHeader, file_size: int, limits: IndexLimits
) -> Movie:
    """Parse a candidate ``moov``; raise :class:`MalformedContainer` unless it is one.

    It must parse, hold an ``mvhd`` and at least one ``trak``, and every
    chunk offset of every track must lie inside the file.
    """
    movie = parse_moov(data, base=box.start, file_size=file_size, limits=limits)
    if not movie.tracks:
        raise MalformedContainer("candidate 'moov' holds no 'trak'", offset=box.start)
    for track in movie.tracks:
        offsets = track.chunk_offsets
        if offsets is not None and len(offsets) and int(offsets.max()) >= file_size:
            raise MalformedContainer(
                f"candidate 'moov' track {track.track_id} has chunks past the end of the file",
                offset=box.start,
            )
    return movie
