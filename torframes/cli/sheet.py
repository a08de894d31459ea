"""``torframes sheet SOURCE -o sheet.jpg``: a contact sheet of one video."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "add_sheet_arguments", "sheet_format", "write_sheet"]

#: Output suffix -> image format.
FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}


def add_sheet_arguments(sub: argparse.ArgumentParser, whole_number: Any) -> None:
    """The ``sheet`` command's own options (the source options come from the main parser)."""
    sub.add_argument(
        "-o", "--output", type=Path, required=True,
        help="image file: .jpg, .png or .webp (required)",
    )  # fmt: skip
    sub.add_argument(
        "-n", type=whole_number, default=16, help="how many keyframes (default: %(default)s)"
    )
    sub.add_argument(
        "--columns", type=whole_number, default=4, help="tiles per row (default: %(default)s)"
    )
    sub.add_argument(
        "--max-side", type=whole_number, default=320, metavar="PIXELS",
        help="longer side of each tile (default: %(default)s)",
    )  # fmt: skip
    sub.add_argument(
        "--skip-blank", action="store_true",
        help="move a black or one-colour pick to the next keyframe (default: keep it)",
    )  # fmt: skip


def sheet_format(output: Path) -> str | None:
    """The image format for ``output``'s suffix, or None when it has no image suffix."""
    return FORMATS.get(output.suffix.lower())


async def write_sheet(video: Any, args: argparse.Namespace) -> None:
    """Draw the sheet and write it to ``args.output``; print its path."""
    import asyncio

    from torframes.decode.write import write_image

    sheet = await video.sheet(
        args.n, args.columns, max_side=args.max_side, skip_blank=args.skip_blank
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(write_image, sheet, args.output, sheet_format(args.output), 90)
    print(args.output)
