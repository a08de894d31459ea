"""Other BitTorrent clients serve the block reader: Transmission and aria2 (Debian packages).

Neither speaks BEP 52, so the torrent is v1 (made by the other tools:
``mktorrent`` and ``transmission-create``), read with ``verify="none"`` (one
peer's bytes, frames marked unverified). Oracles: PyAV's demux for the
table, the frame index in each picture, the client's own upload counter
(its RPC) for the bytes, which must equal the block floor.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.lab.clients import wait_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.oracle import keyframe_packets
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24
#: Transmission unchokes on a 10 s timer (LIBTORRENT-NOTES.md).
PATIENT = {"metadata_timeout": 60.0, "piece_timeout": 60.0, "block_timeout": 30.0}


def other_torrent(maker: str, movie: Path, out: Path) -> Path:
    """A v1 ``.torrent`` of ``movie`` with 256 KiB pieces, made by another tool."""
    if maker == "mktorrent":
        command = ["mktorrent", "-l", "18", "-o", str(out), str(movie)]
    else:
        command = ["transmission-create", "-s", "256", "-o", str(out), str(movie)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return out


async def test_qbittorrent_serves_merkle_checked_blocks(
    movie: Path, tmp_path: Path, lab_seeders: Callable[..., Any]
) -> None:
    """qBittorrent 4.5 (libtorrent 2.0) answers BEP 52 hash requests: a hybrid, fully verified."""
    torrent = make_torrent(
        movie, tmp_path / "movie.torrent", piece_size=256 * KiB, version="hybrid"
    )
    seeder = lab_seeders("qbittorrent", torrent=torrent, content_dir=movie.parent)
    settings = Settings.loopback(read_mode="block", **PATIENT)
    async with Client(settings) as client:
        video = await open_video(
            client, torrent.read_bytes(), peers=[seeder.endpoint], progress=False
        )
        seen = {}
        async for row, image in video.frames(video.select(5, "even"), progress=False):
            seen[round(float(row["time"]) * FPS)] = read_frame_index(image)
        assert seen == {k: k for k in seen}
        assert len(seen) == 5
        stats = video.stats
    assert stats.block_fallbacks == 0
    assert stats.bytes_fetched == 0
    assert stats.unverified_frames == 0
    assert stats.hash_bytes > 0
    assert stats.block_bytes == stats.block_floor
    assert wait_uploaded(seeder, stats.block_floor) == stats.block_floor


@pytest.mark.parametrize(
    ("client_name", "maker"), [("transmission", "mktorrent"), ("aria2", "transmission-create")]
)
async def test_a_client_serves_blocks_at_the_block_floor(
    client_name: str, maker: str, movie: Path, tmp_path: Path, lab_seeders: Callable[..., Any]
) -> None:
    torrent = other_torrent(maker, movie, tmp_path / "movie.torrent")
    seeder = lab_seeders(client_name, torrent=torrent, content_dir=movie.parent)
    settings = Settings.loopback(read_mode="block", verify="none", **PATIENT)
    async with Client(settings) as client:
        video = await open_video(
            client, torrent.read_bytes(), peers=[seeder.endpoint], progress=False
        )
        expected = keyframe_packets(movie)[["offset", "size", "pts", "dts"]]
        ours = video.keyframes[["offset", "size", "pts", "dts"]].astype("int64")
        pd.testing.assert_frame_equal(
            ours.sort_values("dts").reset_index(drop=True), expected, check_dtype=False
        )
        seen = {}
        async for row, image in video.frames(video.select(5, "even"), progress=False):
            seen[round(float(row["time"]) * FPS)] = read_frame_index(image)
        assert seen == {k: k for k in seen}
        assert len(seen) == 5
        stats = video.stats
    assert stats.block_fallbacks == 0
    assert stats.bytes_fetched == 0
    assert stats.unverified_frames == 5
    assert stats.block_bytes == stats.block_floor
    assert wait_uploaded(seeder, stats.block_floor) == stats.block_floor
