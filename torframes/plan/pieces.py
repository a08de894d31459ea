"""From byte ranges of one file to the torrent pieces that hold them.

BEP 3 lays a torrent's files end to end (with BEP 47 pad files between them
in v2 and hybrid torrents) and cuts the whole into pieces of
``piece_length`` bytes, the last one shorter. A file's own byte ``b`` is
torrent byte ``file_offset + b``, in piece ``(file_offset + b) // piece_length``.
The file offset must come from the torrent's file storage, not from adding up
the sizes of earlier files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from torframes.containers.base import ByteRange
from torframes.torrent.pieces import piece_range, piece_size

__all__ = [
    "PieceGeometry",
    "add_piece_columns",
    "piece_bytes",
    "pieces_for_ranges",
    "pieces_for_rows",
    "row_pieces",
]


@dataclass(frozen=True, slots=True)
class PieceGeometry:
    """Where one file sits in a torrent's pieces."""

    piece_length: int
    total_size: int
    file_offset: int
    file_size: int

    @property
    def num_pieces(self) -> int:
        return -(-self.total_size // self.piece_length)

    def piece_size(self, piece: int) -> int:
        """Bytes in ``piece`` (the last piece is short)."""
        return piece_size(piece, self.piece_length, self.total_size)

    def pieces(self, byte_range: ByteRange) -> range:
        """The pieces holding ``byte_range`` of the file (clipped to the file)."""
        clipped = byte_range.clip(self.file_size)
        if clipped.length == 0:
            return range(0)
        return piece_range(self.file_offset + clipped.start, clipped.length, self.piece_length)

    def file_slice(self, piece: int, data: bytes | memoryview) -> tuple[int, memoryview]:
        """The part of ``piece``'s bytes that belongs to the file, and its offset in the file."""
        piece_start = piece * self.piece_length
        lo = max(piece_start, self.file_offset)
        hi = min(piece_start + len(data), self.file_offset + self.file_size)
        if hi <= lo:
            return self.file_size, memoryview(b"")
        view = memoryview(data)[lo - piece_start : hi - piece_start]
        return lo - self.file_offset, view


def pieces_for_ranges(geometry: PieceGeometry, ranges: Iterable[ByteRange]) -> set[int]:
    """Every piece holding any byte of ``ranges``."""
    pieces: set[int] = set()
    for byte_range in ranges:
        pieces.update(geometry.pieces(byte_range))
    return pieces


def add_piece_columns(samples: pd.DataFrame, geometry: PieceGeometry) -> pd.DataFrame:
    """``samples`` with ``piece_first`` and ``piece_last`` added (Int64).

    They are the pieces holding the sample's first and last byte; where
    ``size`` is NA (a keyframe not located yet) ``piece_last`` is NA.
    """
    start = samples["offset"].to_numpy(dtype=np.int64) + geometry.file_offset
    sizes = samples["size"].astype("Int64")
    first = pd.array(start // geometry.piece_length, dtype="Int64")
    last_byte = start + sizes.fillna(1).to_numpy(dtype=np.int64) - 1
    last = pd.array(np.maximum(last_byte, start) // geometry.piece_length, dtype="Int64")
    last[sizes.isna().to_numpy()] = pd.NA
    out = samples.copy()
    out["piece_first"] = first
    out["piece_last"] = last
    return out


def row_pieces(first: object, last: object) -> range:
    """The pieces of one row from its ``piece_first`` and ``piece_last``.

    A row whose size is not known yet (``piece_last`` NA) counts only the
    piece it starts in; a row with no place (``piece_first`` NA), none.
    """
    if pd.isna(first):
        return range(0)
    start = int(first)  # type: ignore[call-overload]
    stop = start if pd.isna(last) else int(last)  # type: ignore[call-overload]
    return range(start, stop + 1)


def pieces_for_rows(rows: pd.DataFrame) -> set[int]:
    """Every piece holding any byte of the rows (which carry ``piece_first``/``piece_last``)."""
    pieces: set[int] = set()
    for first, last in zip(rows["piece_first"], rows["piece_last"], strict=True):
        pieces.update(row_pieces(first, last))
    return pieces


def piece_bytes(geometry: PieceGeometry, pieces: Iterable[int]) -> int:
    """Total size of ``pieces``."""
    return sum(geometry.piece_size(p) for p in set(pieces))
