"""``Video.sheet``: pick, fetch and draw a contact sheet of one video."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from PIL import Image

from torframes.research.sheet import format_time, render_sheet

if TYPE_CHECKING:
    from torframes.api.video import Video

__all__ = ["sheet_header", "video_sheet"]


def sheet_header(video: Video) -> list[str]:
    """Two header lines: the file's name; duration, codec, picture size, bytes fetched."""
    tracks = video.tracks
    track = tracks[tracks["track_id"] == video.main_track].iloc[0]
    duration = track["duration_s"]
    shown = "?" if pd.isna(duration) else format_time(float(duration))
    stats = video.stats
    share = stats.bytes_fetched / stats.file_size if stats.file_size else 0.0
    return [
        video.path,
        f"{shown}  {track['codec_name']}  {int(track['width'])}x{int(track['height'])}  "
        f"fetched {stats.bytes_fetched:,} of {stats.file_size:,} bytes ({share:.1%})",
    ]


async def video_sheet(
    video: Video, n: int = 16, columns: int = 4, *, max_side: int = 320, skip_blank: bool = False
) -> Image.Image:
    """A contact sheet of ``n`` evenly spread keyframes, ``columns`` per row.

    ``skip_blank`` moves a blank pick to the next keyframe of its slice (see
    :mod:`torframes.research.frames`); its tile shows the time it moved to.
    """
    picks = video.select(n, "even")
    found = video.frames(picks, max_side=max_side, skip_blank=skip_blank)
    tiles = [(float(row["time"]), image) async for row, image in found]
    size = max((image.size for _, image in tiles), default=(max_side, max_side))
    sheet, _ = render_sheet(tiles, columns=columns, header=sheet_header(video), tile_size=size)
    return sheet
