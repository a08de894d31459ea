"""Torrents made by mktorrent and transmission-create, seeded by aria2.

Nothing here was made or served by libtorrent, so the piece layout, the
metadata exchange (BEP 9 from aria2) and the wire protocol are another
implementation's. Each job must still fetch exactly its piece floor and
decode the right frames.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import libtorrent as lt
import pytest

from torframes.api.video import Video, open_video
from torframes.settings import Settings
from torframes.testing.videos import make_video, read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

FPS = 24


async def run(command: list[str]) -> None:
    await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)


async def check_frames(video: Video, n: int = 3) -> None:
    picks = video.select(n, "even")
    async for row, image in video.frames(picks):
        assert read_frame_index(image) == round(float(row["time"]) * FPS)


async def check(video: Video, n: int = 3) -> None:
    await check_frames(video, n)
    assert video.stats.bytes_fetched == video.stats.piece_floor


@pytest.mark.parametrize("container", ["mp4", "mkv"])
async def test_mktorrent_single_file_seeded_by_aria2(
    tmp_path: Path, aria2, mktorrent: str, container: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    video_path = make_video(data / f"clip.{container}", container=container, frames=96, gop=12)
    torrent = tmp_path / "clip.torrent"
    # -l 15: 32 KiB pieces, mktorrent's smallest.
    await run([mktorrent, "-l", "15", "-o", str(torrent), str(video_path)])
    seeder = aria2(torrent, data)
    infohash = str(lt.torrent_info(str(torrent)).info_hash())
    magnet = f"magnet:?xt=urn:btih:{infohash}&x.pe=127.0.0.1:{seeder.port}"
    async with Client(Settings.loopback(metadata_timeout=30, piece_timeout=30)) as client:
        video = await open_video(client, magnet)
        assert video.torrent.infohash == infohash
        await check(video)


async def test_transmission_multi_file_seeded_by_aria2(
    tmp_path: Path, aria2, transmission_create: str
) -> None:
    root = tmp_path / "data" / "Show S01"
    root.mkdir(parents=True)
    (root / "00 readme.txt").write_bytes(b"read me\n" * 700)
    make_video(root / "01 episode.mp4", frames=96, gop=12, bframes=2, audio=True)
    make_video(root / "02 episode.mkv", container="mkv", frames=48, gop=12)
    torrent = tmp_path / "show.torrent"
    await run([transmission_create, "-s", "16", "-o", str(torrent), str(root)])
    seeder = aria2(torrent, tmp_path / "data")
    async with Client(Settings.loopback(metadata_timeout=30, piece_timeout=30)) as client:
        video = await open_video(client, torrent.read_bytes(), peers=[seeder.address])
        assert video.path.endswith("01 episode.mp4")
        assert video.geometry.file_offset % video.torrent.piece_length != 0
        await check(video)
        mkv = await open_video(client, torrent.read_bytes(), file="Show S01/02 episode.mkv")
        await check_frames(mkv, n=2)
        # Two files of one torrent: the torrent fetched the union of their floors.
        union = video.needed_pieces | mkv.needed_pieces
        assert video.torrent.stats.bytes_fetched == sum(video.torrent.piece_size(p) for p in union)
