"""The check every swarm test ends with: two screenshots right, fetched at the piece floor."""

from __future__ import annotations

from torframes.api.video import Video
from torframes.testing.videos import read_frame_index

from .conftest import FPS


async def two_screenshots(video: Video) -> int:
    """Decode two keyframes, check each shows its own index; the piece floor, checked."""
    picks = video.select(2, "even")
    seen = [
        (round(float(row["time"]) * FPS), read_frame_index(image))
        async for row, image in video.frames(picks)
    ]
    assert len(seen) == 2
    assert all(shown == wanted for wanted, shown in seen)
    stats = video.stats
    assert stats.bytes_fetched == stats.piece_floor
    return stats.piece_floor
