"""Byte ranges of a file to torrent pieces (BEP 3 layout, BEP 47 pad files)."""

from __future__ import annotations

import pandas as pd
import pytest

from torframes.containers.base import ByteRange
from torframes.plan.pieces import (
    PieceGeometry,
    add_piece_columns,
    piece_bytes,
    pieces_for_ranges,
    pieces_for_rows,
)


def geometry(
    file_offset: int = 0, file_size: int = 1000, total: int | None = None
) -> PieceGeometry:
    return PieceGeometry(
        piece_length=100,
        total_size=total if total is not None else file_offset + file_size,
        file_offset=file_offset,
        file_size=file_size,
    )


def test_pieces_of_a_range_inside_one_piece() -> None:
    assert list(geometry().pieces(ByteRange(10, 20))) == [0]


def test_pieces_of_a_range_across_boundaries() -> None:
    assert list(geometry().pieces(ByteRange(99, 201))) == [0, 1, 2]


def test_range_ending_on_a_boundary_does_not_take_the_next_piece() -> None:
    assert list(geometry().pieces(ByteRange(0, 200))) == [0, 1]


def test_file_not_on_a_piece_boundary_shifts_pieces() -> None:
    g = geometry(file_offset=250, file_size=500)
    assert list(g.pieces(ByteRange(0, 1))) == [2]
    assert list(g.pieces(ByteRange(49, 51))) == [2, 3]


def test_ranges_are_clipped_to_the_file() -> None:
    g = geometry(file_offset=0, file_size=150, total=1000)
    assert list(g.pieces(ByteRange(100, 5000))) == [1]
    assert list(g.pieces(ByteRange(150, 200))) == []


def test_last_piece_is_short() -> None:
    g = geometry(file_size=1050)
    assert g.num_pieces == 11
    assert g.piece_size(10) == 50
    with pytest.raises(ValueError, match=r"not in 0\.\.10"):
        g.piece_size(11)
    assert piece_bytes(g, [9, 10, 10]) == 150


def test_file_slice_cuts_a_piece_to_the_file() -> None:
    g = geometry(file_offset=250, file_size=100, total=1000)
    piece = bytes(range(100))
    offset, view = g.file_slice(2, piece)
    assert (offset, bytes(view)) == (0, piece[50:])
    offset, view = g.file_slice(3, piece)
    assert (offset, bytes(view)) == (50, piece[:50])
    assert len(g.file_slice(5, piece)[1]) == 0


def test_pieces_for_ranges_unions() -> None:
    assert pieces_for_ranges(geometry(), [ByteRange(0, 10), ByteRange(5, 150)]) == {0, 1}


def test_piece_columns_and_na_sizes() -> None:
    samples = pd.DataFrame(
        {
            "offset": pd.array([0, 150, 299, 400], dtype="int64"),
            "size": pd.array([100, 100, 2, pd.NA], dtype="Int64"),
        }
    )
    out = add_piece_columns(samples, geometry(file_offset=50))
    assert out["piece_first"].tolist() == [0, 2, 3, 4]
    assert out["piece_last"].tolist()[:3] == [1, 2, 3]
    assert pd.isna(out["piece_last"].iloc[3])
    assert pieces_for_rows(out) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("bad", [(-1, 5), (5, 4)])
def test_byte_range_rejects_nonsense(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(*bad)
