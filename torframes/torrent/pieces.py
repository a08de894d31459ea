"""Pure arithmetic between byte ranges of a torrent and its pieces.

A torrent is one contiguous byte space (its files back to back, pad files
included) cut into pieces of ``piece_length`` bytes; only the last piece may
be shorter. Nothing here knows about libtorrent.
"""

from __future__ import annotations

__all__ = ["piece_range", "piece_size", "slice_pieces"]


def piece_range(offset: int, length: int, piece_length: int) -> range:
    """Indices of the pieces holding bytes ``[offset, offset + length)`` of the torrent.

    An empty byte range covers no piece.
    """
    if piece_length <= 0:
        raise ValueError(f"piece length must be positive, not {piece_length}")
    if offset < 0 or length < 0:
        raise ValueError(f"negative byte range: offset {offset}, length {length}")
    if length == 0:
        return range(offset // piece_length, offset // piece_length)
    return range(offset // piece_length, (offset + length - 1) // piece_length + 1)


def piece_size(index: int, piece_length: int, total_size: int) -> int:
    """Size in bytes of piece ``index`` of a torrent of ``total_size`` bytes."""
    num_pieces = -(-total_size // piece_length)
    if not 0 <= index < num_pieces:
        raise ValueError(f"piece {index} is not in 0..{num_pieces - 1}")
    return min(piece_length, total_size - index * piece_length)


def slice_pieces(
    pieces: list[bytes], first: int, offset: int, length: int, piece_length: int
) -> bytes:
    """Bytes ``[offset, offset + length)`` of the torrent out of consecutive whole pieces.

    ``pieces`` are the bytes of pieces ``first``, ``first + 1``… as returned by
    :func:`piece_range` for the same range; each but the last is
    ``piece_length`` long.
    """
    start = offset - first * piece_length
    if start < 0:
        raise ValueError(f"byte {offset} comes before piece {first}")
    data = b"".join(pieces)[start : start + length]
    if len(data) != length:
        raise ValueError(f"pieces hold {len(data)} of the {length} bytes asked for")
    return data
