"""Block mode end to end: keyframe table and five frames from 16 KiB blocks, on loopback.

The oracles: PyAV's demux of the complete file for the table, the frame
index every fixture frame carries for the pictures, the seeder's own
``total_payload_upload`` for the bytes, and the blocks covering the needed
bytes counted here by plain arithmetic for the block floor.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.oracle import keyframe_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client
from torframes.torrent.wire import block_reader

pytestmark = pytest.mark.swarm

KiB = 1024
BLOCK = 16 * KiB
FPS = 24


def blocks_covering(ranges: list[tuple[int, int]]) -> set[int]:
    """Indexes of the 16 KiB blocks of a single-file torrent holding any byte of ``ranges``."""
    return {
        b for start, size in ranges for b in range(start // BLOCK, (start + size - 1) // BLOCK + 1)
    }


@pytest.mark.parametrize(
    ("version", "piece_size", "verify"),
    [
        ("v2", 256 * KiB, "piece"),
        ("hybrid", 4096 * KiB, "piece"),
        ("v1", 4096 * KiB, "none"),
        ("v2", 16384 * KiB, "piece"),
    ],
)
async def test_table_and_five_frames_cost_the_block_floor(
    movie: Path, version: str, piece_size: int, verify: str
) -> None:
    size = movie.stat().st_size
    async with LocalSwarm() as swarm:
        seed = await swarm.aseed(movie, piece_size=piece_size, version=version)
        settings = Settings.loopback(read_mode="block", verify=verify)
        async with Client(settings) as client:
            video = await open_video(client, seed.magnet, progress=False)
            expected = keyframe_packets(movie)[["offset", "size", "pts", "dts"]]
            ours = video.keyframes[["offset", "size", "pts", "dts"]].astype("int64")
            pd.testing.assert_frame_equal(
                ours.sort_values("dts").reset_index(drop=True), expected, check_dtype=False
            )
            picks = video.select(5, "even")
            table = await video.save(picks, client_dir := Path(seed.save_path).parent / "shots")
            shown = {}
            for _, row in table.iterrows():
                from PIL import Image

                with Image.open(row["path"]) as image:
                    shown[round(float(row["time"]) * FPS)] = read_frame_index(image)
            assert shown == {k: k for k in shown}
            assert len(shown) == 5
            stats = video.stats
            reader = block_reader(video.torrent, settings)
            assert reader.open_connections >= 1
        assert reader.open_connections == 0  # closed with the client: nothing left behind
        needed = [(r.start, r.length) for r in video.index.index_ranges]
        needed += [(int(r.offset), int(r.size)) for r in picks.itertuples()]
        covering = blocks_covering(needed)
        floor = sum(min(BLOCK, size - b * BLOCK) for b in covering)
        assert stats.read_mode == "block"
        assert stats.floor_blocks == len(covering)
        assert stats.block_floor == floor
        assert stats.block_bytes == floor
        assert stats.bytes_fetched == 0  # libtorrent fetched no piece
        assert seed.wait_uploaded(floor) == floor  # the seeder's own counter
        assert floor < stats.piece_floor
        if version == "v1":
            assert stats.hash_bytes == 0
            assert stats.unverified_frames == 5
            assert not table["verified"].any()
        else:
            assert stats.hash_bytes > 0
            assert stats.hash_bytes % 32 == 0
            assert stats.unverified_frames == 0
            assert table["verified"].all()
        assert client_dir.exists()


@pytest.mark.parametrize(
    ("read_mode", "verify"), [("block", "piece"), ("block", "peers"), ("piece", "piece")]
)
async def test_unverifiable_v1_blocks_are_read_as_whole_pieces(
    movie: Path, read_mode: str, verify: str
) -> None:
    """v1 with ``"piece"``, or ``"peers"`` with one peer only: whole pieces, as in piece mode.

    The block floor is counted in piece mode too, the same as in block mode.
    """
    size = movie.stat().st_size
    async with LocalSwarm() as swarm:
        seed = await swarm.aseed(movie, piece_size=256 * KiB, version="v1")
        settings = Settings.loopback(read_mode=read_mode, verify=verify)
        async with Client(settings) as client:
            video = await open_video(client, seed.magnet, progress=False)
            picks = video.select(5, "even")
            seen = {}
            async for row, image in video.frames(picks, progress=False):
                seen[round(float(row["time"]) * FPS)] = read_frame_index(image)
            assert seen == {k: k for k in seen}
            stats = video.stats
    needed = [(r.start, r.length) for r in video.index.index_ranges]
    needed += [(int(r.offset), int(r.size)) for r in picks.itertuples()]
    assert stats.block_floor == sum(min(BLOCK, size - b * BLOCK) for b in blocks_covering(needed))
    assert stats.block_bytes == 0
    assert stats.unverified_frames == 0
    assert (stats.block_fallbacks > 0) == (read_mode == "block")
    assert stats.bytes_fetched == stats.piece_floor
    assert seed.wait_uploaded(stats.piece_floor) == stats.piece_floor


@pytest.mark.parametrize(("version", "kept"), [("v1", False), ("v2", True)])
async def test_an_index_parsed_from_unverified_blocks_is_not_cached(
    movie: Path, tmp_path: Path, version: str, kept: bool
) -> None:
    """``verify="none"`` on v1: the index is parsed again next time; a v2 one is kept."""
    settings = Settings.loopback(
        read_mode="block", verify="none", cache=True, cache_dir=tmp_path / "cache"
    )
    async with LocalSwarm() as swarm:
        seed = await swarm.aseed(movie, piece_size=256 * KiB, version=version)
        for _ in range(2):
            async with Client(settings) as client:
                video = await open_video(client, seed.magnet, progress=False)
                assert video.torrent.held_pieces() == frozenset()  # nothing in libtorrent's storage
    assert video.stats.index_from_cache == kept
