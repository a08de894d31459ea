"""From a magnet to keyframe tables and images over a real loopback swarm.

For each fixture: the keyframe table matches PyAV's demux of the complete
file, each decoded frame shows the frame index its row says, and the seeder
uploaded exactly the piece floor of the job (and nothing more was fetched).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from torframes.api.video import Video, open_video
from torframes.testing.oracle import keyframe_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24


def our_keyframes(video: Video) -> pd.DataFrame:
    table = video.keyframes[["offset", "size", "pts", "dts"]].astype("int64")
    return table.sort_values("dts").reset_index(drop=True)


async def check_job(video: Video, path: Path, seed: Any, n: int = 5) -> None:
    expected = keyframe_packets(path)[["offset", "size", "pts", "dts"]]
    pd.testing.assert_frame_equal(our_keyframes(video), expected, check_dtype=False)
    picks = video.select(n, "even")
    assert len(picks) == min(n, len(expected))
    seen = {}
    async for row, image in video.frames(picks):
        seen[round(float(row["time"]) * FPS)] = read_frame_index(image)
    assert seen == {k: k for k in seen}
    assert len(seen) == len(picks)
    stats = video.stats
    assert stats.bytes_fetched == stats.piece_floor
    assert seed.wait_uploaded(stats.piece_floor, timeout=10) == stats.piece_floor


FIXTURES: dict[str, dict[str, Any]] = {
    "moov-tail": {},
    "moov-head": {"faststart": True},
    "bframes": {"bframes": 2},
    "audio-first": {"audio": True, "audio_first": True},
    "audio-after": {"audio": True, "bframes": 2, "faststart": True},
    "hevc": {"codec": "hevc", "bframes": 2},
    "av1": {"codec": "av1"},
    "vp9": {"codec": "vp9", "faststart": True},
}


@pytest.mark.parametrize("name", list(FIXTURES))
@pytest.mark.parametrize("piece_size", [16 * KiB, 64 * KiB])
async def test_fixture_end_to_end(
    swarm: LocalSwarm, client: Client, videos: Path, name: str, piece_size: int
) -> None:
    path = videos / f"{name}.mp4"
    if not path.exists():
        make_video(path, frames=96, gop=12, **FIXTURES[name])
    seed = swarm.seed(path, piece_size=piece_size)
    video = await open_video(client, seed.magnet)
    assert len(video.probe.rounds) <= 3
    await check_job(video, path, seed)


@pytest.mark.parametrize("piece_size", [256 * KiB, 1024 * KiB, 4096 * KiB])
async def test_large_pieces(
    swarm: LocalSwarm, client: Client, tmp_path: Path, piece_size: int
) -> None:
    path = make_video(tmp_path / "big.mp4", frames=96, gop=24, noise=True, width=640, height=360)
    seed = swarm.seed(path, piece_size=piece_size)
    video = await open_video(client, seed.magnet)
    await check_job(video, path, seed, n=3)


async def test_multi_file_torrent_video_off_piece_boundary(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "movie.mp4", frames=96, gop=12, bframes=2, audio=True)
    seed = swarm.seed(
        {
            "a/readme.txt": b"r" * 5_000,
            "a/movie.mp4": path,
            "a/z-extra.bin": b"z" * 70_000,
        },
        piece_size=16 * KiB,
    )
    video = await open_video(client, seed.magnet)
    assert video.path.endswith("movie.mp4")
    assert video.geometry.file_offset % (16 * KiB) != 0
    await check_job(video, path, seed)


@pytest.mark.parametrize("version", ["v2", "hybrid"])
async def test_v2_and_hybrid_torrents_with_pad_files(
    swarm: LocalSwarm, client: Client, tmp_path: Path, version: str
) -> None:
    """BEP 52/47: files start on piece boundaries after pad files; v2 never sends the pads."""
    path = make_video(tmp_path / "movie.mp4", frames=96, gop=12, bframes=2, audio=True)
    # v2 file trees are sorted by name: the readme comes first.
    files = {"a/0-readme.txt": b"r" * 5_000, "a/movie.mp4": path, "a/z.bin": b"z" * 30_000}
    seed = swarm.seed(files, piece_size=16 * KiB, version=version)
    video = await open_video(client, seed.magnet)
    assert video.geometry.file_offset == 16 * KiB  # after the readme and its pad file
    await check_job(video, path, seed)
    last = max(video.needed_pieces)
    if version == "v2":  # the video's last piece ends with the file, not with its pad
        assert video.torrent.transfer_size(last) < video.torrent.piece_size(last)


async def test_torrent_file_source_and_explicit_file(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "clip.mp4", frames=48, gop=12)
    seed = swarm.seed({"x/clip.mp4": path, "x/other.mp4": path}, piece_size=16 * KiB)
    video = await open_video(client, seed.torrent_bytes, file="x/other.mp4", peers=[swarm.address])
    assert video.path == "x/other.mp4"
    await check_job(video, path, seed, n=2)


async def test_cheapest_never_fetches_more_than_even(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "c.mp4", frames=240, gop=6, bframes=2)
    seed = swarm.seed(path, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    held = video.torrent.held_pieces()
    for n in (1, 3, 5, 8):
        even = video.select(n, "even")
        cheap = video.select(n, "cheapest")

        def cost(rows: pd.DataFrame) -> int:
            needed = set()
            for first, last in zip(rows["piece_first"], rows["piece_last"], strict=True):
                needed |= set(range(int(first), int(last) + 1))
            return len(needed - held)

        assert cost(cheap) <= cost(even)
        assert len(cheap) == len(even)


@pytest.mark.parametrize(("codec", "bframes"), [("h264", 2), ("hevc", 3), ("vp9", 0)])
async def test_frames_between_keyframes_decode_from_their_gop(
    swarm: LocalSwarm, client: Client, tmp_path: Path, codec: str, bframes: int
) -> None:
    path = make_video(tmp_path / "v.mp4", codec=codec, frames=72, gop=24, bframes=bframes)
    seed = swarm.seed(path, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    samples = video.samples[video.samples["track_id"] == video.main_track]
    for index in (5, 23, 30, 47, 71):
        row = samples.iloc[(samples["time"] - index / FPS).abs().argmin()]
        assert not row["is_keyframe"]
        assert read_frame_index(await video.frame(row)) == index
    assert read_frame_index(await video.frame_at(50.9 / FPS)) == 50
    assert video.stats.bytes_fetched == video.stats.piece_floor
