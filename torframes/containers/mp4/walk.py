"""The top-level walk: box headers, read one after another from the bytes held.

An MP4 file is a sequence of boxes (ISO/IEC 14496-12 §4.2), so the place of
every top-level box, ``moov`` included, follows from the headers before it
alone: in a file whose ``moov`` comes after ``mdat`` the ``mdat`` header
says exactly where ``moov`` starts, without reading any media.

:func:`read_top_header` answers for one position: the header, how many
more bytes it needs, or why the chain cannot be followed there (a size
below 8, a box running past the end of the file, bytes that are no box
type): the cue for "find and validate".
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.containers.base import ByteStore
from torframes.containers.mp4.boxes import (
    BoxHeader,
    fourcc,
    header_size_needed,
    is_box_type,
    read_box_header,
)
from torframes.errors import ContainerError

__all__ = ["Broken", "read_top_header", "walk_held"]


@dataclass(frozen=True, slots=True)
class Broken:
    """The chain of top-level headers cannot be followed at ``offset``.

    ``reason`` says why, without the offset. ``cut`` is the header when the
    reason is that its box runs past the end of the file: a truncated file,
    or an ``mdat`` whose size was never written back.
    """

    offset: int
    reason: str
    cut: BoxHeader | None = None


def read_top_header(store: ByteStore, pos: int, file_size: int) -> BoxHeader | Broken | int:
    """The top-level box header at ``pos``, from held bytes.

    Returns the header; or the number of bytes at ``pos`` still needed to
    read it; or :class:`Broken`. ``pos`` must be before the end of the file.
    """
    left = file_size - pos
    if left < 8:
        return Broken(pos, f"{left} bytes at the end of the file are no box")
    head = store.get(pos, pos + 8)
    if head is None:
        return 8
    if not is_box_type(bytes(head[4:8])):
        return Broken(pos, f"no box header here (type bytes {bytes(head[4:8]).hex(' ')})")
    needed = header_size_needed(head)
    if needed > left:
        return Broken(pos, f"'{fourcc(head[4:8])}' header cut off by the end of the file")
    full = store.get(pos, pos + needed)
    if full is None:
        return needed
    try:
        header = read_box_header(full, 0, left, base=pos, within=False)
    except ContainerError as exc:
        return Broken(pos, exc.message)
    if header.size > left:
        return Broken(
            pos,
            f"'{header.name}' of {header.size} bytes runs past the end of the file "
            f"({left} bytes left)",
            cut=header,
        )
    return header


def walk_held(
    store: ByteStore, pos: int, file_size: int, limit: int
) -> tuple[list[BoxHeader], Broken | None]:
    """The top-level headers from ``pos`` on that the held bytes show, up to ``limit`` of them.

    Also returns where the chain broke, if it broke on held bytes (else None).
    """
    found: list[BoxHeader] = []
    while pos < file_size and len(found) < limit:
        got = read_top_header(store, pos, file_size)
        if isinstance(got, Broken):
            return found, got
        if not isinstance(got, BoxHeader):
            break
        found.append(got)
        pos = got.end
    return found, None
