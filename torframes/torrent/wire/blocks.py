"""Which 16 KiB blocks hold a byte range, and what each costs on the wire.

Pure arithmetic over a :class:`~torframes.torrent.files.FileLayout`. A
request names ``(piece, begin, length)``; peers serve only the canonical
blocks of a piece (libtorrent's ``verify_piece``: ``begin`` a multiple of
16 KiB, ``length`` 16 KiB or what is left of the piece). A v2-only
torrent's piece ends with its file (BEP 52: pad bytes are never sent); a
v1 or hybrid piece runs on into the pad file, so a file's last block may
carry pad bytes, which a leaf hash leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torframes.torrent.files import FileEntry, FileLayout
from torframes.torrent.wire.messages import BLOCK_SIZE

__all__ = ["Block", "block_floor", "blocks_for_range"]


@dataclass(frozen=True, slots=True)
class Block:
    """One canonical request, and where its bytes sit in the torrent and in its file."""

    piece: int
    begin: int
    length: int
    #: Where the block starts in the torrent's byte space.
    offset: int
    #: libtorrent's index of the file the block belongs to, and the block's leaf
    #: in that file's BEP 52 tree (blocks of a v2 file start on a piece boundary).
    file: int
    leaf: int
    #: Bytes of the block inside the file (the rest is padding).
    file_bytes: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.piece, self.begin)


def _block_length(layout: FileLayout, piece: int, begin: int) -> int:
    size = layout.transfer_size(piece) if layout.v2_only else layout.piece_size(piece)
    return min(BLOCK_SIZE, size - begin)


def blocks_for_range(layout: FileLayout, entry: FileEntry, start: int, length: int) -> list[Block]:
    """The blocks covering bytes ``[start, start + length)`` of ``entry``, in order."""
    if start < 0 or length < 0 or start + length > entry.size:
        raise ValueError(f"bytes {start}..{start + length} are outside {entry.path!r}")
    if length == 0:
        return []
    first = (entry.offset + start) // BLOCK_SIZE * BLOCK_SIZE
    end = entry.offset + start + length
    blocks = []
    for offset in range(first, end, BLOCK_SIZE):
        piece, begin = divmod(offset, layout.piece_length)
        size = _block_length(layout, piece, begin)
        inside = min(offset + size, entry.offset + entry.size) - max(offset, entry.offset)
        leaf = (offset - entry.offset) // BLOCK_SIZE
        blocks.append(Block(piece, begin, size, offset, entry.index, leaf, inside))
    return blocks


def block_floor(
    layout: FileLayout, entry: FileEntry, ranges: Iterable[tuple[int, int]]
) -> tuple[int, int]:
    """``(count, bytes)`` of the distinct blocks covering every ``(start, length)`` range."""
    seen: dict[tuple[int, int], int] = {}
    for start, length in ranges:
        clipped = max(0, min(length, entry.size - start))
        for block in blocks_for_range(layout, entry, start, clipped):
            seen[block.key] = block.length
    return len(seen), sum(seen.values())
