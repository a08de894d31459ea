"""EBML primitives (RFC 8794): variable-size integers, element headers, typed values.

Every function here works on a ``memoryview`` (or ``bytes``) and a position
in it, and raises :class:`~torframes.errors.TruncatedContainer` when the
bytes end too early and :class:`~torframes.errors.MalformedContainer` when
they break EBML's rules. ``base`` arguments are the file offset of ``buf[0]``,
so errors name file offsets.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import NamedTuple

from torframes.containers.matroska import elements as ids
from torframes.errors import MalformedContainer, TruncatedContainer

__all__ = [
    "MAX_HEADER",
    "MAX_VALUE",
    "Element",
    "children",
    "peek_doctype",
    "read_binary",
    "read_element",
    "read_float",
    "read_id",
    "read_sint",
    "read_size",
    "read_string",
    "read_uint",
    "read_vint",
    "read_vsint",
]

#: Longest element header: a 4-octet ID (Matroska's EBMLMaxIDLength) and an
#: 8-octet data size.
MAX_HEADER = 12

#: Timestamps, positions and durations are refused from this value up, so
#: that sums of them stay within the tables' int64 columns.
MAX_VALUE = 1 << 62

Buffer = bytes | bytearray | memoryview


class Element(NamedTuple):
    """An element header: its ID, where it starts, its header length and data size.

    ``size`` is None for an element of unknown size (RFC 8794 §6.2).
    """

    id: int
    start: int
    header: int
    size: int | None

    @property
    def data(self) -> int:
        """File offset of the element's data."""
        return self.start + self.header

    @property
    def end(self) -> int:
        """File offset just past the element (its data start when the size is unknown)."""
        return self.start + self.header + (self.size or 0)


def read_vint(buf: Buffer, pos: int, base: int = 0) -> tuple[int, int]:
    """A variable-size integer (RFC 8794 §4): ``(value, length)``, marker bit removed.

    Lengths are 1 to 8 octets; a first octet of zero would announce a longer
    one, which EBML forbids here.
    """
    if pos >= len(buf):
        raise TruncatedContainer("variable-size integer cut off", offset=base + pos)
    first = buf[pos]
    if first == 0:
        raise MalformedContainer("variable-size integer longer than 8 octets", offset=base + pos)
    length = 9 - first.bit_length()
    if pos + length > len(buf):
        raise TruncatedContainer("variable-size integer cut off", offset=base + pos)
    value = int.from_bytes(buf[pos : pos + length], "big") & ((1 << (7 * length)) - 1)
    return value, length


def read_vsint(buf: Buffer, pos: int, base: int = 0) -> tuple[int, int]:
    """A signed variable-size integer, as EBML lacing stores size differences.

    RFC 9559 "EBML Lacing": the unsigned value minus ``2^(7n-1) - 1``.
    """
    value, length = read_vint(buf, pos, base)
    return value - ((1 << (7 * length - 1)) - 1), length


def read_id(buf: Buffer, pos: int, base: int = 0) -> tuple[int, int]:
    """An Element ID (RFC 8794 §5): ``(id with marker bits, length)``, at most 4 octets."""
    if pos >= len(buf):
        raise TruncatedContainer("element ID cut off", offset=base + pos)
    first = buf[pos]
    length = 9 - first.bit_length()
    if first == 0 or length > 4:
        raise MalformedContainer("element ID longer than 4 octets", offset=base + pos)
    if pos + length > len(buf):
        raise TruncatedContainer("element ID cut off", offset=base + pos)
    element_id = int.from_bytes(buf[pos : pos + length], "big")
    if element_id & ((1 << (7 * length)) - 1) == (1 << (7 * length)) - 1:
        raise MalformedContainer(f"reserved element ID 0x{element_id:X}", offset=base + pos)
    return element_id, length


def read_size(buf: Buffer, pos: int, base: int = 0) -> tuple[int | None, int]:
    """An Element Data Size (RFC 8794 §6): ``(size, length)``; size None when unknown.

    Every value bit set means "unknown size" (§6.2), at any length.
    """
    value, length = read_vint(buf, pos, base)
    if value == (1 << (7 * length)) - 1:
        return None, length
    return value, length


def read_element(buf: Buffer, pos: int, base: int = 0) -> Element:
    """The header of the element starting at ``buf[pos]`` (RFC 8794 §3 "Element")."""
    element_id, id_length = read_id(buf, pos, base)
    size, size_length = read_size(buf, pos + id_length, base)
    return Element(element_id, base + pos, id_length + size_length, size)


def children(body: Buffer, base: int, parent: str) -> Iterator[tuple[Element, memoryview]]:
    """The child elements of a master element's data ``body`` and each child's data.

    ``base`` is the file offset of ``body[0]``. A child must be of known size
    and fit in its parent (RFC 8794 §6.2 allows unknown sizes only where the
    schema says so, and only Segment and Cluster do in Matroska).
    """
    view = memoryview(body)
    pos, stop = 0, len(view)
    while pos < stop:
        element = read_element(view, pos, base)
        if element.size is None:
            raise MalformedContainer(
                f"{ids.name_of(element.id)} of unknown size inside {parent}", offset=element.start
            )
        start = pos + element.header
        end = start + element.size
        if end > stop:
            raise MalformedContainer(
                f"{ids.name_of(element.id)} of {element.size} bytes overruns its parent {parent}",
                offset=element.start,
            )
        yield element, view[start:end]
        pos = end


def read_uint(data: Buffer, offset: int = 0) -> int:
    """An Unsigned Integer Element's value (RFC 8794 §7.2): 0 to 8 octets, big-endian."""
    if len(data) > 8:
        raise MalformedContainer(f"unsigned integer of {len(data)} octets", offset=offset)
    return int.from_bytes(data, "big")


def read_sint(data: Buffer, offset: int = 0) -> int:
    """A Signed Integer Element's value (RFC 8794 §7.1): 0 to 8 octets, two's complement."""
    if len(data) > 8:
        raise MalformedContainer(f"signed integer of {len(data)} octets", offset=offset)
    return int.from_bytes(data, "big", signed=True)


def read_float(data: Buffer, offset: int = 0) -> float:
    """A Float Element's value (RFC 8794 §7.3): 0, 4 or 8 octets, IEEE 754 big-endian.

    NaN and infinities are refused: no Matroska float may hold them usefully.
    """
    if len(data) == 0:
        return 0.0
    if len(data) == 4:
        (value,) = struct.unpack(">f", data)
    elif len(data) == 8:
        (value,) = struct.unpack(">d", data)
    else:
        raise MalformedContainer(f"float of {len(data)} octets", offset=offset)
    if not math.isfinite(value):
        raise MalformedContainer("float is not finite", offset=offset)
    return float(value)


def read_string(data: Buffer) -> str:
    """A String or UTF-8 Element's value (RFC 8794 §7.4, §7.5), cut at the first NUL.

    Undecodable bytes become U+FFFD rather than an error: names and codec
    IDs are compared, never trusted.
    """
    raw = bytes(data).split(b"\x00", 1)[0]
    return raw.decode("utf-8", errors="replace")


def read_binary(data: Buffer) -> bytes:
    """A Binary Element's value (RFC 8794 §7.8), copied out of the buffer."""
    return bytes(data)


def peek_doctype(head: Buffer) -> str | None:
    """The DocType of an EBML Header (RFC 8794 §11.2.6) if ``head`` holds it, else None.

    Never raises: sniffing uses it on a file's first bytes, whatever they are.
    """
    try:
        header = read_element(head, 0)
        if header.id != ids.EBML or header.size is None:
            return None
        view = memoryview(head)[header.header : header.header + header.size]
        pos = 0
        while pos < len(view):
            child = read_element(view, pos)
            if child.size is None:
                return None
            data = view[pos + child.header : pos + child.header + child.size]
            if child.id == ids.DOC_TYPE:
                return read_string(data) if len(data) == child.size else None
            pos += child.header + child.size
    except (MalformedContainer, TruncatedContainer):
        return None
    return None
