"""``Video.save`` end to end: negative frame times named, pictures written whole."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from torframes.testing import LocalSwarm, make_video, read_frame_index
from torframes.torrent.client import Client

KiB = 1024


async def test_save_names_a_frame_shown_before_zero(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    """A keyframe whose time is negative (B-frame pre-roll, an edit list) is saved, not refused."""
    movie = make_video(tmp_path / "movie.mp4", frames=48, gop=12, width=320, height=240)
    seed = await swarm.aseed(movie, piece_size=16 * KiB)
    video = await client.open(seed.magnet)
    keyframes = video.keyframes
    early = keyframes.iloc[1].copy()
    early["time"] = -0.083  # as FFmpeg reports a frame an edit list moves before the start
    rows = [keyframes.iloc[0], early]
    saved = await video.save(rows, tmp_path / "shots", fmt="png")
    names = sorted(os.listdir(tmp_path / "shots"))
    assert names == [
        f"{seed.infohash}-f0-t-999999.917.png",  # sorts before the frame at 0
        f"{seed.infohash}-f0-t000000.000.png",
    ]
    assert sorted(Path(p).name for p in saved["path"]) == names
    indexes = []
    for name in names:
        with Image.open(tmp_path / "shots" / name) as image:
            indexes.append(read_frame_index(image))
    assert indexes == [12, 0]  # each file holds its own frame, decoded whole
