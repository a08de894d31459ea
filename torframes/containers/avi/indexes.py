"""Readers for the AVI indexes: legacy ``idx1`` and OpenDML ``indx``/``ix##``.

* ``idx1`` ("AVI 1.0 index", Microsoft AVI RIFF File Reference,
  ``AVIOLDINDEX``): 16-byte entries ``dwChunkId``, ``dwFlags``,
  ``dwOffset``, ``dwSize``; ``AVIIF_KEYFRAME`` (0x10) flags keyframes;
  ``dwOffset`` points at the chunk header, relative to the ``movi`` list or
  to the file (:func:`idx1_data_offset` tells which, as FFmpeg does).
* OpenDML AVI File Format Extensions 1.02, §"AVI Index Chunks": every index
  chunk starts with ``wLongsPerEntry``, ``bIndexSubType``, ``bIndexType``,
  ``nEntriesInUse`` and ``dwChunkId`` (``AVIMETAINDEX``). A *super index*
  (``bIndexType`` ``AVI_INDEX_OF_INDEXES``, the ``indx`` chunk of a
  ``strl``) lists ``qwOffset``/``dwSize``/``dwDuration`` of *standard
  index* chunks (``AVI_INDEX_OF_CHUNKS``, ``ix##``), whose 8-byte entries
  give ``dwOffset`` of a chunk's data relative to ``qwBaseOffset`` and
  ``dwSize`` with bit 31 set for a chunk that is *not* a keyframe.

Every reader checks its entry count against the bytes it was given before
building an array; arrays are numpy views of those bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from torframes.errors import IndexTooLarge, MalformedContainer, UnsupportedContainer

__all__ = [
    "AVIIF_KEYFRAME",
    "INDEX_OF_CHUNKS",
    "INDEX_OF_INDEXES",
    "Idx1",
    "OdmlIndex",
    "idx1_data_offset",
    "read_idx1",
    "read_odml_index",
    "stream_number",
]

#: ``AVIOLDINDEX`` flag of a keyframe entry.
AVIIF_KEYFRAME = 0x10
#: ``bIndexType`` of a super index and of a standard index.
INDEX_OF_INDEXES = 0x00
INDEX_OF_CHUNKS = 0x01
#: Bit 31 of a standard index entry's ``dwSize``: not a keyframe.
_NOT_KEYFRAME = 0x8000_0000

_IDX1_ENTRY = np.dtype([("id", "<u4"), ("flags", "<u4"), ("offset", "<u4"), ("size", "<u4")])
_SUPER_ENTRY = np.dtype([("offset", "<u8"), ("size", "<u4"), ("duration", "<u4")])
_CHUNK_ENTRY = np.dtype([("offset", "<u4"), ("size", "<u4")])
_META_INDEX = struct.Struct("<HBBI4sQI")


def stream_number(chunk_id: np.ndarray | int) -> np.ndarray | int:
    """The stream a chunk ID names: its two leading ASCII digits (``01wb`` is stream 1).

    Computed as FFmpeg does, digit by digit, so IDs that are not two
    digits give numbers no stream has (negative or too large).
    """
    return ((chunk_id & 0xFF) - 0x30) * 10 + ((chunk_id >> 8 & 0xFF) - 0x30)


@dataclass(frozen=True, slots=True)
class Idx1:
    """The entries of an ``idx1`` chunk, as arrays (offsets as stored)."""

    ids: np.ndarray
    flags: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray


def read_idx1(data: bytes | memoryview, offset: int, max_entries: int) -> Idx1:
    """``idx1``: ``AVIOLDINDEX`` entries; bytes past the last whole entry are ignored."""
    count = len(data) // _IDX1_ENTRY.itemsize
    if count > max_entries:
        raise MalformedContainer(
            f"'idx1' of {count} entries, more than the {max_entries} allowed", offset=offset
        )
    entries = np.frombuffer(data, dtype=_IDX1_ENTRY, count=count)
    return Idx1(
        entries["id"].astype(np.int64),
        entries["flags"],
        entries["offset"].astype(np.int64),
        entries["size"].astype(np.int64),
    )


def idx1_data_offset(first_offset: int, movi_list: int, first_packet: int | None) -> int:
    """What to add to ``idx1`` offsets to get file offsets of chunk headers.

    FFmpeg's ``avi_read_idx1``: with the first chunk of ``movi`` found at
    ``first_packet``, the first entry (``first_offset``) is taken to point
    at it, so the difference is the base, unless the entry already points
    just past the ``movi`` FOURCC (``movi_list + 4``) and the first chunk
    lies well after (500 bytes or more): offsets are then from the file
    start. Without a first chunk, offsets are taken as absolute.
    """
    if not first_packet:
        return 0
    if movi_list + 4 != first_offset or first_offset + 500 > first_packet:
        return first_packet - first_offset
    return 0


@dataclass(frozen=True, slots=True)
class OdmlIndex:
    """An OpenDML index chunk (``indx`` or ``ix##``).

    ``kind`` is :data:`INDEX_OF_INDEXES` (then ``offsets``/``sizes``/
    ``durations`` describe the standard index chunks it points at) or
    :data:`INDEX_OF_CHUNKS` (then ``offsets`` are file offsets of the
    chunks' data, ``sizes`` their sizes and ``keyframes`` their flags).
    """

    kind: int
    chunk_id: int
    offsets: np.ndarray
    sizes: np.ndarray
    durations: np.ndarray | None = None
    keyframes: np.ndarray | None = None


def read_odml_index(
    data: bytes | memoryview, offset: int, file_size: int, max_entries: int
) -> OdmlIndex:
    """``indx``/``ix##``: ``AVIMETAINDEX`` and its entries (OpenDML 1.02, "AVI Index Chunks").

    Accepted as FFmpeg's ``read_odml_index`` accepts them: sub-type 0 only
    (field indexes, ``AVI_INDEX_2FIELD``, are unsupported), 2 longs per
    entry in a standard index; a ``qwBaseOffset`` past the end of the file
    whose two halves are equal is read as its low half (a known muxer bug).
    """
    if len(data) < _META_INDEX.size:
        raise MalformedContainer(f"OpenDML index of {len(data)} bytes", offset=offset)
    longs, sub_type, kind, count, chunk_id, base, _ = _META_INDEX.unpack_from(data)
    if sub_type != 0:
        raise UnsupportedContainer(f"OpenDML index sub-type {sub_type}", offset=offset)
    if kind not in (INDEX_OF_INDEXES, INDEX_OF_CHUNKS):
        raise MalformedContainer(f"OpenDML index of type {kind}", offset=offset)
    entry = _SUPER_ENTRY if kind == INDEX_OF_INDEXES else _CHUNK_ENTRY
    if kind == INDEX_OF_CHUNKS and longs != 2:
        raise MalformedContainer(f"standard index with {longs} longs per entry", offset=offset)
    room = (len(data) - _META_INDEX.size) // entry.itemsize
    if count > room:
        raise MalformedContainer(
            f"OpenDML index of {count} entries in room for {room}", offset=offset
        )
    if count > max_entries:
        raise IndexTooLarge(
            f"OpenDML index of {count} entries, over the {max_entries} still allowed",
            offset=offset,
        )
    entries = np.frombuffer(data, dtype=entry, count=count, offset=_META_INDEX.size)
    ident = int.from_bytes(chunk_id, "little")
    if kind == INDEX_OF_INDEXES:
        return OdmlIndex(
            kind,
            ident,
            entries["offset"].astype(np.int64),
            entries["size"].astype(np.int64),
            durations=entries["duration"].astype(np.int64),
        )
    if base >= file_size:
        if base >> 32 == base & 0xFFFF_FFFF and base & 0xFFFF_FFFF < file_size:
            base &= 0xFFFF_FFFF
        else:
            raise MalformedContainer(f"standard index based past the file at {base}", offset=offset)
    sizes = entries["size"]
    return OdmlIndex(
        kind,
        ident,
        base + entries["offset"].astype(np.int64),
        (sizes & ~np.uint32(_NOT_KEYFRAME)).astype(np.int64),
        keyframes=(sizes & np.uint32(_NOT_KEYFRAME)) == 0,
    )
