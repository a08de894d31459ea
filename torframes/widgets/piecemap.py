"""The piece map: a picture of one file's pieces that makes the minimal download visible.

One square cell per piece holding any byte of the file, in file order, left
to right and top to bottom:

- **fill**: fetched (held and verified) pieces are solid blue, untouched ones
  light grey; pieces holding the container index (MP4 ``moov``, Matroska
  Cues…) are orange instead (dark when fetched, pale when not);
- **dot**: a dark dot marks a piece where a keyframe of the main video track
  starts;
- **outline**: pieces the given rows (a selection) need are outlined red.

Under the cells, a bar lays out the file's top-level structures (``ftyp``,
``mdat``, ``moov``; EBML header, Segment…) to the same byte scale, then a
legend. :func:`render_piece_map` gives the picture with where each cell lies;
``video.piece_map()`` gives just the picture; :class:`PieceMapView` is a widget
that redraws it as pieces arrive (and on :meth:`~PieceMapView.refresh`), shown
at its own size: each cell whole, the legend sharp.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ipywidgets as widgets
import pandas as pd
from PIL import Image, ImageDraw

from torframes.containers.base import ByteRange
from torframes.plan.pieces import piece_bytes, pieces_for_ranges, pieces_for_rows
from torframes.plural import plural
from torframes.widgets.background import follow_pieces
from torframes.widgets.images import INK, WHITE, caption_font, encode, picture_layout

if TYPE_CHECKING:
    from torframes.api.video import Video

__all__ = ["COLORS", "PieceMap", "PieceMapView", "render_piece_map"]

#: Colour of each kind of cell and mark.
COLORS: dict[str, tuple[int, int, int]] = {
    "untouched": (226, 226, 226),
    "fetched": (31, 119, 180),
    "index": (253, 208, 162),
    "index fetched": (230, 85, 13),
    "keyframe": (20, 20, 20),
    "wanted": (214, 39, 40),
}
_STRUCTURES = ((199, 233, 192), (198, 219, 239), (218, 218, 235))


@dataclass(frozen=True)
class PieceMap:
    """A rendered piece map: the picture and where each piece's cell lies in it."""

    image: Image.Image
    #: The pieces drawn, in order (the file's pieces).
    pieces: range
    columns: int
    cell: int
    gap: int
    #: Pieces drawn as fetched, as index pieces, with a keyframe dot, outlined.
    fetched: frozenset[int]
    index: frozenset[int]
    keyframes: frozenset[int]
    wanted: frozenset[int]

    def box(self, piece: int) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of ``piece``'s cell (right and bottom exclusive)."""
        position = self.pieces.index(piece)
        row, column = divmod(position, self.columns)
        left = self.gap + column * (self.cell + self.gap)
        top = self.gap + row * (self.cell + self.gap)
        return left, top, left + self.cell, top + self.cell

    def _repr_png_(self) -> bytes:
        return encode(self.image, "png")


def _auto_columns(count: int) -> int:
    return max(1, min(count, 64, max(16, math.ceil(math.sqrt(count * 4)))))


def _auto_cell(columns: int, gap: int = 2) -> int:
    """Cells as large as fit in about 720 pixels, between 6 and 24."""
    return max(6, min(24, 720 // columns - gap))


def render_piece_map(
    video: Video,
    rows: pd.DataFrame | None = None,
    *,
    columns: int | None = None,
    cell: int | None = None,
    held: Collection[int] | None = None,
    legend: bool = True,
) -> PieceMap:
    """Draw ``video``'s pieces now: fetched against untouched, the index, keyframes, ``rows``.

    ``held`` defaults to the pieces the torrent holds right now.
    """
    geometry = video.geometry
    pieces = geometry.pieces(ByteRange(0, geometry.file_size))
    count = max(1, len(pieces))
    columns = columns or _auto_columns(count)
    cell = cell or _auto_cell(columns)
    gap = 1 if cell < 10 else 2
    fetched = frozenset(video.torrent.held_pieces() if held is None else held) & set(pieces)
    index = frozenset(pieces_for_ranges(geometry, video.index.index_ranges))
    firsts = video.keyframes["piece_first"].dropna().astype("int64")
    keyframes = frozenset(int(p) for p in firsts.unique())
    wanted = frozenset(pieces_for_rows(rows)) if rows is not None and len(rows) else frozenset()

    grid_rows = -(-len(pieces) // columns) if len(pieces) else 0
    width = gap + columns * (cell + gap)
    grid_height = gap + grid_rows * (cell + gap)
    bar = 18
    entries = _legend_layout(max(width, 240)) if legend else []
    legend_height = (max(y for _, _, y in entries) + 18) if entries else 0
    width = max(width, 240) if legend else width
    image = Image.new("RGB", (width, grid_height + bar + 6 + legend_height), WHITE)
    draw = ImageDraw.Draw(image)
    drawn = PieceMap(image, pieces, columns, cell, gap, fetched, index, keyframes, wanted)
    dot = max(2, cell // 4)
    for piece in pieces:
        left, top, right, bottom = drawn.box(piece)
        if piece in index:
            colour = COLORS["index fetched"] if piece in fetched else COLORS["index"]
        else:
            colour = COLORS["fetched"] if piece in fetched else COLORS["untouched"]
        draw.rectangle((left, top, right - 1, bottom - 1), fill=colour)
        if piece in wanted and piece not in fetched:
            draw.rectangle((left, top, right - 1, bottom - 1), outline=COLORS["wanted"], width=2)
        if piece in keyframes:
            cx, cy = (left + right) // 2, (top + bottom) // 2
            draw.rectangle(
                (cx - dot // 2, cy - dot // 2, cx + (dot - 1) // 2, cy + (dot - 1) // 2),
                fill=COLORS["keyframe"],
            )
    grid_width = gap + columns * (cell + gap)
    _draw_layout(draw, video, (gap, grid_height + 2, grid_width - gap - 1, grid_height + 2 + bar))
    for label, x, y in entries:
        _draw_legend_entry(draw, label, x, grid_height + bar + 8 + y)
    return drawn


def _draw_layout(draw: ImageDraw.ImageDraw, video: Video, box: tuple[int, int, int, int]) -> None:
    """The file's top-level structures as a bar to byte scale, the index ranges over them."""
    left, top, right, bottom = box
    size = max(1, video.geometry.file_size)
    font = caption_font(10)

    def x_of(offset: int) -> float:
        return left + (right - left) * min(max(offset, 0), size) / size

    draw.rectangle(box, fill=COLORS["untouched"])
    for i, (_, byte_range) in enumerate(video.index.layout):
        colour = _STRUCTURES[i % len(_STRUCTURES)]
        x0, x1 = x_of(byte_range.start), x_of(byte_range.stop)
        draw.rectangle((x0, top, max(x0, x1 - 1), bottom), fill=colour)
    for byte_range in video.index.index_ranges:
        x0, x1 = x_of(byte_range.start), x_of(byte_range.stop)
        draw.rectangle((x0, top, max(x0, x1 - 1), top + 4), fill=COLORS["index fetched"])
    for name, byte_range in video.index.layout:
        x0, x1 = x_of(byte_range.start), x_of(byte_range.stop)
        if draw.textlength(name, font=font) + 4 <= x1 - x0:
            draw.text((x0 + 2, top + 5), name, fill=INK, font=font)


_LEGEND = ("fetched", "untouched", "index fetched", "index", "keyframe", "wanted")


def _legend_layout(width: int) -> list[tuple[str, int, int]]:
    """Where each legend entry goes: ``(label, x, y)``, wrapping at ``width``."""
    font = caption_font(10)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entries, x, y = [], 2, 0
    for label in _LEGEND:
        step = 14 + int(measure.textlength(label, font=font)) + 10
        if x > 2 and x + step > width:
            x, y = 2, y + 16
        entries.append((label, x, y))
        x += step
    return entries


def _draw_legend_entry(draw: ImageDraw.ImageDraw, label: str, x: int, top: int) -> None:
    colour = COLORS[label]
    if label == "keyframe":
        draw.rectangle((x, top, x + 10, top + 10), fill=COLORS["untouched"])
        draw.rectangle((x + 3, top + 3, x + 7, top + 7), fill=colour)
    elif label == "wanted":
        draw.rectangle((x, top, x + 10, top + 10), outline=colour, width=2)
    else:
        draw.rectangle((x, top, x + 10, top + 10), fill=colour)
    draw.text((x + 14, top), label, fill=INK, font=caption_font(10))


def summary(video: Video, held: Collection[int] | None = None) -> str:
    """One line: pieces and bytes of the file fetched."""
    geometry = video.geometry
    pieces = set(geometry.pieces(ByteRange(0, geometry.file_size)))
    have = pieces & set(video.torrent.held_pieces() if held is None else held)
    fetched = piece_bytes(geometry, have)
    share = fetched / geometry.file_size if geometry.file_size else 0.0
    return (
        f"{len(have)} of {plural(len(pieces), 'piece')} fetched "
        f"({fetched:,} of {geometry.file_size:,} bytes, {share:.1%})"
    )


class PieceMapView(widgets.VBox):
    """The piece map as a widget: the picture and a one-line summary.

    ``live`` (the default) redraws it whenever pieces of the video arrive;
    :meth:`refresh` redraws it now.
    """

    def __init__(
        self,
        video: Video,
        rows: pd.DataFrame | None = None,
        *,
        live: bool = True,
        **options: object,
    ) -> None:
        self.video = video
        self.rows = rows
        self._options = options
        self.picture = widgets.Image(format="png", layout=picture_layout())
        self.caption = widgets.HTML()
        super().__init__([self.picture, self.caption])
        self.map: PieceMap | None = None
        self.refresh()
        self._unfollow = follow_pieces(video, self.refresh) if live else None

    def close(self) -> None:
        """Stop following the download, then close the widget."""
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        super().close()

    def refresh(self, rows: pd.DataFrame | None = None) -> PieceMap:
        """Redraw from the pieces held now (and ``rows``, if given, as the ones wanted)."""
        if rows is not None:
            self.rows = rows
        self.map = render_piece_map(self.video, self.rows, **self._options)  # type: ignore[arg-type]
        self.picture.value = encode(self.map.image, "png")
        self.caption.value = f"<small>{summary(self.video, self.map.fetched)}</small>"
        return self.map

    def __repr__(self) -> str:
        geometry = self.video.geometry
        count = len(geometry.pieces(ByteRange(0, geometry.file_size)))
        return f"PieceMapView({self.video.path!r}, {plural(count, 'piece')})"
