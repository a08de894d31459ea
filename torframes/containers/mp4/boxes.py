"""Box headers and a bounds-checked reader for box payloads.

ISO/IEC 14496-12 §4.2: every box starts with a 32-bit size and a four-byte
type. Size 1 means a 64-bit ``largesize`` follows the type; size 0 means the
box runs to the end of its enclosing box (or of the file, at top level);
any other size below 8 cannot hold the header and is invalid. A ``uuid``
box carries a 16-byte extended type after that. A *full box* (§4.2.2)
starts its payload with an 8-bit version and 24-bit flags.
(mutagen ``mutagen/mp4/_atom.py`` and mp4parse-rust ``read_box_header``
handle sizes 0, 1 and < 8 the same way.)

Nothing here allocates more than what the caller already holds: array
reads check their byte count against what remains first.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from torframes.errors import MalformedContainer, TruncatedContainer

__all__ = [
    "BoxHeader",
    "Reader",
    "fourcc",
    "header_size_needed",
    "is_box_type",
    "iter_boxes",
    "read_box_header",
]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def fourcc(code: bytes) -> str:
    """A box type or sample entry code as text (Latin-1 keeps ``©xyz`` intact)."""
    return bytes(code).decode("latin-1")


def is_box_type(code: bytes) -> bool:
    """True when four bytes look like a box type: printable ASCII or ``©``.

    Used to tell a header from garbage where the box chain broke.
    """
    return len(code) == 4 and all(0x20 <= c < 0x7F or c == 0xA9 for c in code)


@dataclass(frozen=True, slots=True)
class BoxHeader:
    """A box's place: ``type`` at ``[start, start + size)``, payload after ``header_size``.

    Offsets are absolute in the file (or relative to whatever buffer
    :func:`read_box_header` was given a ``base`` for).
    """

    type: bytes
    start: int
    size: int
    header_size: int
    usertype: bytes | None = None

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def payload_start(self) -> int:
        return self.start + self.header_size

    @property
    def name(self) -> str:
        return fourcc(self.type)


def header_size_needed(head: bytes | memoryview) -> int:
    """How many bytes the header starting with ``head`` (at least 8 bytes) occupies."""
    size = _U32.unpack_from(head, 0)[0]
    needed = 16 if size == 1 else 8
    if bytes(head[4:8]) == b"uuid":
        needed += 16
    return needed


def read_box_header(
    buf: bytes | memoryview, pos: int, end: int, *, base: int = 0, within: bool = True
) -> BoxHeader:
    """Read the box header at ``buf[pos:]`` of a box that must end by ``buf[end]``.

    ``base`` is the file offset of ``buf[0]``: the returned header and every
    error speak in file offsets. Size 0 runs to ``end``. Raises
    :class:`TruncatedContainer` when the header does not fit before ``end``
    and :class:`MalformedContainer` when its size is impossible. With
    ``within`` False a box whose size runs past ``end`` is returned as
    read: at top level the caller tells a truncated file from a broken chain.
    """
    left = end - pos
    if left < 8:
        raise TruncatedContainer(f"box header needs 8 bytes, {left} left", offset=base + pos)
    size, kind = _U32.unpack_from(buf, pos)[0], bytes(buf[pos + 4 : pos + 8])
    header = 8
    if size == 1:
        if left < 16:
            raise TruncatedContainer(f"'{fourcc(kind)}' largesize cut short", offset=base + pos)
        size = _U64.unpack_from(buf, pos + 8)[0]
        header = 16
        if size < 16:
            raise MalformedContainer(f"'{fourcc(kind)}' largesize {size} < 16", offset=base + pos)
    elif size == 0:
        size = left
    elif size < 8:
        raise MalformedContainer(f"box size {size} < 8", offset=base + pos)
    usertype = None
    if kind == b"uuid":
        if left < header + 16:
            raise TruncatedContainer("'uuid' extended type cut short", offset=base + pos)
        usertype = bytes(buf[pos + header : pos + header + 16])
        header += 16
        if size < header:
            raise MalformedContainer(f"'uuid' box size {size} < {header}", offset=base + pos)
    if size > left and within:
        raise TruncatedContainer(
            f"'{fourcc(kind)}' of {size} bytes runs past its parent ({left} left)",
            offset=base + pos,
        )
    return BoxHeader(kind, base + pos, size, header, usertype)


def iter_boxes(
    buf: bytes | memoryview, start: int, end: int, *, base: int = 0
) -> Iterator[BoxHeader]:
    """The boxes laid end to end in ``buf[start:end]`` (file offsets via ``base``).

    Fewer than 8 trailing bytes are ignored, as FFmpeg does: QuickTime ends
    some lists with a 4-byte zero terminator.
    """
    pos = start
    while end - pos >= 8:
        box = read_box_header(buf, pos, end, base=base)
        yield box
        pos += box.size


class Reader:
    """A cursor over one box payload that never reads past its end.

    Every read checks the bytes left first and raises
    :class:`TruncatedContainer` (naming ``what`` and the file offset) when
    the payload is too short; :meth:`array` checks ``count * itemsize``
    before any allocation.
    """

    __slots__ = ("base", "buf", "end", "pos", "what")

    def __init__(self, buf: bytes | memoryview, start: int, end: int, *, base: int, what: str):
        self.buf = buf
        self.pos = start
        self.end = end
        self.base = base
        self.what = what

    @classmethod
    def payload(cls, buf: bytes | memoryview, box: BoxHeader, *, base: int) -> Reader:
        """A reader over ``box``'s payload; ``base`` is the file offset of ``buf[0]``."""
        return cls(buf, box.payload_start - base, box.end - base, base=base, what=box.name)

    @property
    def left(self) -> int:
        return self.end - self.pos

    @property
    def offset(self) -> int:
        """File offset of the next byte."""
        return self.base + self.pos

    def need(self, n: int, what: str = "") -> None:
        if n > self.end - self.pos:
            detail = f" {what}" if what else ""
            raise TruncatedContainer(
                f"'{self.what}'{detail} needs {n} bytes, {self.end - self.pos} left",
                offset=self.base + self.pos,
            )

    def _unpack(self, fmt: struct.Struct) -> int:
        self.need(fmt.size)
        value = fmt.unpack_from(self.buf, self.pos)[0]
        self.pos += fmt.size
        return value

    def u8(self) -> int:
        return self._unpack(_B)

    def u16(self) -> int:
        return self._unpack(_H)

    def u24(self) -> int:
        self.need(3)
        value = int.from_bytes(self.buf[self.pos : self.pos + 3], "big")
        self.pos += 3
        return value

    def u32(self) -> int:
        return self._unpack(_U32)

    def i32(self) -> int:
        return self._unpack(_I32)

    def u64(self) -> int:
        return self._unpack(_U64)

    def i64(self) -> int:
        return self._unpack(_I64)

    def f64(self) -> float:
        return self._unpack(_F64)

    def full_box(self) -> tuple[int, int]:
        """Version and flags of a full box (§4.2.2)."""
        return self.u8(), self.u24()

    def skip(self, n: int) -> None:
        self.need(n)
        self.pos += n

    def bytes(self, n: int) -> bytes:
        self.need(n)
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    def rest(self) -> bytes:
        return self.bytes(self.end - self.pos)

    def count(self, itemsize: int, what: str) -> int:
        """Read a u32 entry count and check ``count * itemsize`` bytes remain."""
        at = self.offset
        n = self.u32()
        if n * itemsize > self.left:
            raise MalformedContainer(
                f"'{self.what}' says {n} {what} ({n * itemsize} bytes) but holds {self.left} bytes",
                offset=at,
            )
        return n

    def array(self, dtype: str, count: int) -> np.ndarray:
        """``count`` big-endian items of ``dtype`` as a native numpy array (a copy)."""
        item = np.dtype(dtype)
        self.need(count * item.itemsize, f"{count} entries")
        values = np.frombuffer(self.buf, dtype=item, count=count, offset=self.pos)
        self.pos += count * item.itemsize
        return values.astype(item.newbyteorder("="))

    def children(self) -> Iterator[BoxHeader]:
        """The boxes that fill the rest of this payload."""
        start, self.pos = self.pos, self.end
        return iter_boxes(self.buf, start, self.end, base=self.base)


_B = struct.Struct(">B")
_H = struct.Struct(">H")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
