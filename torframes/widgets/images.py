"""Small picture helpers for widgets and notebooks: sizes, encoding, placeholders, contact sheets.

Everything here is deterministic: the same inputs give the same bytes
(PIL writes no timestamps into PNG or JPEG), so notebook outputs that hold
these pictures compare equal run after run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = ["caption_font", "contact_sheet", "encode", "fit", "picture_layout", "placeholder"]

#: Colours shared by the widgets and pictures.
PLACEHOLDER = (232, 232, 232)
INK = (34, 34, 34)
MUTED = (120, 120, 120)
WHITE = (255, 255, 255)


@lru_cache(maxsize=8)
def caption_font(size: int = 11) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (no system fonts: same text everywhere)."""
    return ImageFont.load_default(size=size)


def fit(width: int | None, height: int | None, max_side: int) -> tuple[int, int]:
    """The size of a ``width`` x ``height`` picture scaled so its longer side is ``max_side``.

    Unknown dimensions count as 16:9.
    """
    if not width or not height:
        width, height = 16, 9
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def picture_layout() -> Any:
    """An ``ipywidgets.Layout`` that shows a picture at its aspect ratio, never stretched.

    Its own width (never scaled up), or its container's when that is narrower;
    the height follows the width. ``align_self`` keeps a flex box from
    stretching it across: ``stretch`` is the default of ipywidgets' boxes, and
    a picture beside a taller table grew to the table's height.
    """
    import ipywidgets as widgets

    return widgets.Layout(
        width="auto",
        max_width="100%",
        height="auto",
        align_self="flex-start",
        object_fit="contain",
        flex="0 1 auto",
    )


def encode(image: Image.Image, fmt: str = "jpeg", quality: int = 85) -> bytes:
    """``image`` as JPEG or PNG bytes."""
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format=fmt.upper(), optimize=False)
    return buffer.getvalue()


@lru_cache(maxsize=16)
def placeholder(size: tuple[int, int], text: str = "…") -> bytes:
    """A light grey JPEG of ``size`` with ``text`` in the middle: a tile waiting for its frame."""
    image = Image.new("RGB", size, PLACEHOLDER)
    draw = ImageDraw.Draw(image)
    font = caption_font(max(10, size[1] // 8))
    box = draw.textbbox((0, 0), text, font=font)
    x = (size[0] - (box[2] - box[0])) // 2
    y = (size[1] - (box[3] - box[1])) // 2
    draw.text((x, y - box[1]), text, fill=MUTED, font=font)
    return encode(image, "jpeg")


def contact_sheet(
    images: Sequence[Image.Image],
    captions: Sequence[str] = (),
    *,
    columns: int = 5,
    max_side: int = 256,
    gap: int = 6,
) -> Image.Image:
    """One picture of ``images`` in a grid, each scaled to ``max_side`` with its caption below."""
    if not images:
        return Image.new("RGB", (1, 1), WHITE)
    columns = max(1, min(columns, len(images)))
    sizes = [fit(im.width, im.height, max_side) for im in images]
    cell_w = max(w for w, _ in sizes)
    cell_h = max(h for _, h in sizes)
    font = caption_font(12)
    line = 16 if captions else 0
    rows = -(-len(images) // columns)
    sheet = Image.new(
        "RGB",
        (columns * cell_w + (columns + 1) * gap, rows * (cell_h + line) + (rows + 1) * gap),
        WHITE,
    )
    draw = ImageDraw.Draw(sheet)
    for i, (image, size) in enumerate(zip(images, sizes, strict=True)):
        x = gap + (i % columns) * (cell_w + gap)
        y = gap + (i // columns) * (cell_h + line + gap)
        sheet.paste(image.convert("RGB").resize(size, Image.Resampling.LANCZOS), (x, y))
        if i < len(captions):
            draw.text((x, y + cell_h + 2), captions[i], fill=INK, font=font)
    return sheet
