"""Each real client of the swarm lab seeds a fixture video to a torframes leecher.

Oracles: PyAV's demux of the complete file for the keyframe table, the
frame index drawn in each decoded picture, and the seeding client's own
upload counter (its RPC) for the bytes, which must equal the piece floor.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from torframes.api.video import Video, open_video
from torframes.settings import Settings
from torframes.testing.lab.clients import CLIENTS, ClientSeeder, wait_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.oracle import keyframe_packets
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

from .conftest import FPS

pytestmark = pytest.mark.swarm

KiB = 1024
#: Generous enough for rTorrent's 30 s rechoke cycle on every round (issue 12).
PATIENT = {"metadata_timeout": 120.0, "piece_timeout": 120.0}


async def fetch_and_check(
    video_path: Path, torrent: Path, seeder: ClientSeeder, *, peers: bool = True
) -> Video:
    """Table and two screenshots from ``seeder``; the leecher and the seeder agree on the floor."""
    settings = Settings.loopback(**PATIENT)
    async with Client(settings) as client:
        video = await open_video(
            client, torrent.read_bytes(), peers=[seeder.endpoint] if peers else None
        )
        expected = keyframe_packets(video_path)[["offset", "size", "pts", "dts"]]
        ours = video.keyframes[["offset", "size", "pts", "dts"]].astype("int64")
        pd.testing.assert_frame_equal(
            ours.sort_values("dts").reset_index(drop=True), expected, check_dtype=False
        )
        picks = video.select(2, "even")
        assert len(picks) == 2
        seen = [
            (round(float(row["time"]) * FPS), read_frame_index(image))
            async for row, image in video.frames(picks)
        ]
        assert len(seen) == 2
        assert all(shown == wanted for wanted, shown in seen)
        stats = video.stats
        assert stats.bytes_fetched == stats.piece_floor
    assert wait_uploaded(seeder, stats.piece_floor) == stats.piece_floor
    return video


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_client_seeds_the_table_and_frames_at_the_floor(
    client_name: str, lab_video: Path, tmp_path: Path, seeders: Callable[..., ClientSeeder]
) -> None:
    torrent = make_torrent(lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    seeder = seeders(client_name, torrent=torrent, content_dir=lab_video.parent)
    assert seeder.client == client_name
    assert isinstance(seeder, ClientSeeder)
    await fetch_and_check(lab_video, torrent, seeder)
