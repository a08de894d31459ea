"""Contact sheets: a header and a grid of timestamped tiles, drawn with Pillow only.

The font is Pillow's own built-in one (``ImageFont.load_default(size=...)``,
shipped inside Pillow), never a system font, so a sheet looks the same on
every machine. The geometry is computed by :func:`sheet_layout` alone, so
callers (and tests) know where each tile and label lies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

__all__ = ["SheetLayout", "format_time", "render_sheet", "sheet_layout"]

BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)


@dataclass(frozen=True)
class SheetLayout:
    """Where everything goes on a sheet; boxes are ``(left, top, right, bottom)``."""

    size: tuple[int, int]
    header: tuple[int, int, int, int]
    tiles: tuple[tuple[int, int, int, int], ...]
    labels: tuple[tuple[int, int, int, int], ...]
    font_size: int


def sheet_layout(
    count: int,
    columns: int,
    tile_size: tuple[int, int],
    *,
    header_lines: int = 2,
    margin: int = 8,
    font_size: int = 14,
) -> SheetLayout:
    """The geometry of a sheet of ``count`` tiles of ``tile_size``, ``columns`` per row."""
    if count < 1 or columns < 1:
        raise ValueError("a sheet needs at least one tile and one column")
    width, height = tile_size
    columns = min(columns, count)
    rows = -(-count // columns)
    line = font_size + 4
    label = line + 2
    header_height = margin + header_lines * line
    size = (
        margin + columns * (width + margin),
        header_height + margin + rows * (height + label + margin),
    )
    tiles, labels = [], []
    for i in range(count):
        left = margin + (i % columns) * (width + margin)
        top = header_height + margin + (i // columns) * (height + label + margin)
        tiles.append((left, top, left + width, top + height))
        labels.append((left, top + height, left + width, top + height + label))
    return SheetLayout(
        size=size,
        header=(margin, margin, size[0] - margin, header_height),
        tiles=tuple(tiles),
        labels=tuple(labels),
        font_size=font_size,
    )


def format_time(seconds: float) -> str:
    """``H:MM:SS.ss`` — the timestamp printed under a tile."""
    minutes, secs = divmod(max(0.0, float(seconds)), 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}"


def render_sheet(
    tiles: Sequence[tuple[float, Image.Image]],
    *,
    columns: int = 4,
    header: Sequence[str] = (),
    tile_size: tuple[int, int] | None = None,
    font_size: int = 14,
) -> tuple[Image.Image, SheetLayout]:
    """Draw ``(time, picture)`` tiles in time order under ``header`` lines.

    Pictures are scaled to ``tile_size`` (default: the first picture's size)
    keeping their aspect ratio, centred in their tile.
    """
    ordered = sorted(tiles, key=lambda item: item[0])
    if not ordered:
        raise ValueError("a sheet needs at least one picture")
    size = tile_size or ordered[0][1].size
    layout = sheet_layout(
        len(ordered), columns, size, header_lines=max(1, len(header)), font_size=font_size
    )
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=font_size)
    line = font_size + 4
    for i, text in enumerate(header):
        draw.text((layout.header[0], layout.header[1] + i * line), text, fill=TEXT, font=font)
    for (seconds, picture), box, label in zip(ordered, layout.tiles, layout.labels, strict=True):
        thumb = picture.convert("RGB")
        thumb.thumbnail(size, Image.Resampling.LANCZOS)
        left = box[0] + (size[0] - thumb.width) // 2
        top = box[1] + (size[1] - thumb.height) // 2
        sheet.paste(thumb, (left, top))
        draw.text((label[0] + 2, label[1] + 1), format_time(seconds), fill=TEXT, font=font)
    return sheet, layout
