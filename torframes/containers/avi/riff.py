"""RIFF chunk headers, as the Microsoft AVI RIFF File Reference defines them.

A chunk is a FOURCC, a 32-bit little-endian size and that many bytes of
data, padded to an even length ("RIFF File Format": *ckID*, *ckSize*,
*ckData*). A ``RIFF`` or ``LIST`` chunk starts its data with a FOURCC naming
its form or list type (``AVI ``, ``AVIX``, ``hdrl``, ``strl``, ``movi``...),
and its other chunks follow. Sizes are checked against the parent's end, so
a chunk never claims bytes its parent does not hold.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from torframes.errors import MalformedContainer, TruncatedContainer

__all__ = ["HEADER_BYTES", "LIST_HEADER_BYTES", "Chunk", "iter_chunks", "read_chunk"]

#: Bytes of a chunk header (FOURCC and size).
HEADER_BYTES = 8
#: Bytes of a ``RIFF``/``LIST`` header (with its form or list type).
LIST_HEADER_BYTES = 12

_HEADER = struct.Struct("<4sI")
_LISTS = (b"RIFF", b"LIST")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A chunk's place: ``fourcc`` at ``start``, ``size`` bytes of data after its header.

    ``form`` is the list type of a ``RIFF``/``LIST`` chunk, else None.
    ``end`` includes the pad byte of an odd-sized chunk.
    """

    fourcc: bytes
    start: int
    size: int
    form: bytes | None = None

    @property
    def data(self) -> int:
        """Where the chunk's data starts (after the list type, for a list)."""
        return self.start + (LIST_HEADER_BYTES if self.form is not None else HEADER_BYTES)

    @property
    def stop(self) -> int:
        """Where the chunk's data stops (before any pad byte)."""
        return self.start + HEADER_BYTES + self.size

    @property
    def end(self) -> int:
        """Where the next chunk starts."""
        return self.stop + (self.size & 1)

    @property
    def name(self) -> str:
        """``hdrl``, ``movi``, ``idx1``...: the list type of a list, else the FOURCC."""
        return (self.form or self.fourcc).decode("latin-1")


def read_chunk(data: bytes | memoryview, pos: int, base: int, parent_end: int) -> Chunk:
    """The chunk header at file offset ``pos``; ``data`` holds the file from ``base``.

    A chunk runs past ``parent_end`` only if it is the last one and merely
    the pad byte or the declared size overruns: a size that overruns is
    :class:`TruncatedContainer` when the parent is the file, else malformed.
    """
    at = pos - base
    if at < 0 or at + HEADER_BYTES > len(data):
        raise TruncatedContainer("a RIFF chunk header is cut short", offset=pos)
    fourcc, size = _HEADER.unpack_from(data, at)
    form = None
    if fourcc in _LISTS:
        if size < 4 or at + LIST_HEADER_BYTES > len(data):
            raise MalformedContainer(f"{fourcc.decode()} chunk of {size} bytes", offset=pos)
        form = bytes(data[at + 8 : at + 12])
    chunk = Chunk(bytes(fourcc), pos, size, form)
    if chunk.stop > parent_end:
        raise MalformedContainer(
            f"chunk {chunk.name!r} of {size} bytes overruns its parent (ends at {parent_end})",
            offset=pos,
        )
    return chunk


def iter_chunks(data: bytes | memoryview, base: int, start: int, stop: int) -> Iterator[Chunk]:
    """The chunks of a list whose data ``[start, stop)`` is held in ``data`` (from ``base``).

    Fewer than eight bytes left at the end (padding some muxers leave) end
    the walk.
    """
    pos = start
    while stop - pos >= HEADER_BYTES:
        chunk = read_chunk(data, pos, base, stop)
        yield chunk
        pos = chunk.end
