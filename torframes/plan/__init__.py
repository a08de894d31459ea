"""Planning: which keyframes to take and which pieces hold them."""

from torframes.plan.pieces import (
    PieceGeometry,
    add_piece_columns,
    piece_bytes,
    pieces_for_ranges,
    pieces_for_rows,
    row_pieces,
)
from torframes.plan.select import STRATEGIES, select_keyframes

__all__ = [
    "STRATEGIES",
    "PieceGeometry",
    "add_piece_columns",
    "piece_bytes",
    "pieces_for_ranges",
    "pieces_for_rows",
    "row_pieces",
    "select_keyframes",
]
