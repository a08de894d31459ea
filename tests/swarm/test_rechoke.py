"""No round waits for a seeder's rechoke cycle (issue 12, item 1).

Between rounds nothing is wanted, so libtorrent tells each peer it is not
interested (BEP 3). rTorrent chokes at once and unchokes a peer it choked
less than 10 s before only on its 30 s cycle; Transmission unchokes on a
10 s cycle. Here every round after the first must arrive within a piece
timeout shorter than that cycle. Oracles: the frame index drawn in each
decoded picture, and the seeder's own upload counter for the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.lab.clients import wait_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

from .conftest import FPS

pytestmark = pytest.mark.swarm

KiB = 1024


async def table_and_five_screenshots(
    torrent: Path, seeder: Any, *, piece_timeout: float, warm_up: bool = False
) -> int:
    """Open the video and decode five keyframes; the bytes fetched, checked against the floor.

    ``warm_up``: fetch the first piece (the MP4 head, part of the floor)
    with a patient timeout first: a seeder decides when it first unchokes
    a new peer, and Transmission does so only on its 10 s cycle.
    """
    settings = Settings.loopback(piece_timeout=piece_timeout, cache=False)
    async with Client(settings) as client:
        if warm_up:
            added = await client.add(torrent.read_bytes(), peers=[seeder.endpoint])
            await added.fetch([0], timeout=60)
        video = await open_video(client, torrent.read_bytes(), peers=[seeder.endpoint])
        picks = video.select(5, "even")
        assert len(picks) == 5
        seen = [
            (round(float(row["time"]) * FPS), read_frame_index(image))
            async for row, image in video.frames(picks)
        ]
        assert len(seen) == 5
        assert all(shown == wanted for wanted, shown in seen)
        stats = video.stats
        assert video.torrent.stats.rounds >= 3
        assert stats.bytes_fetched == stats.piece_floor
        return stats.piece_floor


async def test_rtorrent_rounds_beat_its_30_s_rechoke(
    swarm_video: Path, tmp_path: Path, seeders: Callable[..., Any]
) -> None:
    torrent = make_torrent(swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    seeder = seeders("rtorrent", torrent=torrent, content_dir=swarm_video.parent)
    floor = await table_and_five_screenshots(torrent, seeder, piece_timeout=5.0)
    assert wait_uploaded(seeder, floor) == floor


async def test_transmission_rounds_beat_its_10_s_rechoke(
    swarm_video: Path, tmp_path: Path, seeders: Callable[..., Any]
) -> None:
    torrent = make_torrent(swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    seeder = seeders("transmission", torrent=torrent, content_dir=swarm_video.parent)
    floor = await table_and_five_screenshots(torrent, seeder, piece_timeout=4.0, warm_up=True)
    assert wait_uploaded(seeder, floor) == floor
