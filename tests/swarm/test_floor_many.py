"""Exactly the piece floor with many peers (issue 12, item 2).

Five full seeders of four different clients and a partial libtorrent seeder
serve a keyframe table and five screenshots at 16 KiB pieces, where
libtorrent's own end-game used to ask one block of several peers (their
uploads summed to 1.16-1.45x the floor). Oracles: PyAV's demux of the
complete file for the table, the frame index drawn in each picture, and
the seeders' own upload counters for bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import libtorrent as lt
import pandas as pd
import pytest

from torframes.api.video import Video, open_video
from torframes.testing.lab import Lab, LabPeer, total_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.oracle import keyframe_packets
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

from .conftest import FPS

pytestmark = pytest.mark.swarm

KiB = 1024
SEEDERS = ("libtorrent", "libtorrent", "transmission", "aria2", "qbittorrent")


async def table_and_screenshots(video: Video, video_path: Path) -> int:
    """The keyframe table equals PyAV's, five screenshots show their own frames; the floor."""
    expected = keyframe_packets(video_path)[["offset", "size", "pts", "dts"]]
    ours = video.keyframes[["offset", "size", "pts", "dts"]].astype("int64")
    pd.testing.assert_frame_equal(
        ours.sort_values("dts").reset_index(drop=True), expected, check_dtype=False
    )
    picks = video.select(5, "even")
    seen = [
        (round(float(row["time"]) * FPS), read_frame_index(image))
        async for row, image in video.frames(picks, progress=False)
    ]
    assert len(seen) == 5
    assert all(wanted == shown for wanted, shown in seen)
    return video.stats.piece_floor


def wait_total(peers: Iterable[LabPeer], expected: int, timeout: float = 30.0) -> int:
    """The sum of the peers' own counters once it reaches ``expected`` (or at the deadline)."""
    peers = list(peers)
    deadline = time.monotonic() + timeout
    while (count := total_uploaded(peers)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)  # polling counters other processes keep: there is no event
    return count


async def test_five_seeders_and_a_partial_one_upload_exactly_the_floor(
    swarm_video: Path, tmp_path: Path
) -> None:
    torrent = make_torrent(swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    half = range(0, lt.torrent_info(str(torrent)).num_pieces(), 2)
    with Lab(tmp_path / "lab") as lab:
        for client in SEEDERS:
            lab.seed(torrent, swarm_video.parent, client=client)
        lab.seed(torrent, swarm_video.parent, pieces=half)
        settings = lab.settings(piece_timeout=60)
        async with Client(settings) as client:
            video = await open_video(
                client, torrent.read_bytes(), peers=lab.peers(), progress=False
            )
            floor = await table_and_screenshots(video, swarm_video)
            assert video.stats.bytes_fetched == floor
        assert wait_total(lab.seeders, floor) == floor

        # Opted in: libtorrent's end-game (blocks may be asked twice); the frames still come.
        before = total_uploaded(lab.seeders)
        async with Client(lab.settings(piece_timeout=60, duplicate_requests=True)) as client:
            video = await open_video(
                client, torrent.read_bytes(), peers=lab.peers(), progress=False
            )
            again = await table_and_screenshots(video, swarm_video)
        assert again == floor
        assert wait_total(lab.seeders, before + floor) >= before + floor


async def test_a_v2_torrent_from_three_seeders_is_checked_by_its_merkle_leaves(
    swarm_video: Path, tmp_path: Path
) -> None:
    """v2-only pieces end with their file and have no SHA-1: each block meets its leaf."""
    torrent = make_torrent(
        swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB, version="v2"
    )
    with Lab(tmp_path / "lab") as lab:
        for _ in range(3):
            lab.seed(torrent, swarm_video.parent)
        async with Client(lab.settings(piece_timeout=60)) as client:
            video = await open_video(
                client, torrent.read_bytes(), peers=lab.peers(), progress=False
            )
            floor = await table_and_screenshots(video, swarm_video)
            assert video.stats.bytes_fetched == floor
        assert wait_total(lab.seeders, floor) == floor
