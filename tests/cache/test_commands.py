"""``torframes cache info|list|clear`` and ``tf.cache_info()`` on a cache made by an open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import torframes as tf
from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024


def _cli(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "TORFRAMES_CACHE_DIR": str(cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "torframes", "cache", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_list_info_and_clear(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings, cache_dir: Path
) -> None:
    seed = swarm.seed(movie, piece_size=16 * KiB)
    async with Client(cached_settings) as client:
        await open_video(client, seed.magnet)
    table = tf.cache_info(cached_settings)
    assert list(table["infohash"]) == [seed.infohash]
    assert table.loc[0, "name"] == seed.name
    assert table.loc[0, "indexes"] == 1

    listed = _cli("list", cache_dir=cache_dir)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].startswith(seed.infohash + "\t")
    info = _cli("info", cache_dir=cache_dir)
    assert info.returncode == 0, info.stderr
    assert "torrents: 1" in info.stdout

    bad = _cli("clear", "not-a-hash", cache_dir=cache_dir)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert tf.cache_info(cached_settings)["infohash"].tolist() == [seed.infohash]

    cleared = _cli("clear", seed.infohash.upper(), cache_dir=cache_dir)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == "cleared 1 torrent(s)"
    assert tf.cache_info(cached_settings).empty


async def test_v2_magnet_finds_the_hybrid_torrent_cached_under_v1(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings
) -> None:
    seed = swarm.seed(movie, piece_size=16 * KiB, version="hybrid")
    async with Client(cached_settings) as client:
        first = await open_video(client, seed.magnet)
        floor = first.stats.piece_floor
    assert seed.wait_uploaded(floor) == floor
    assert seed.infohash_v2 is not None
    async with Client(cached_settings) as client:
        video = await open_video(client, seed.infohash_v2)  # no peer, no tracker: cache only
        assert video.stats.metadata_from_cache
        assert video.stats.index_from_cache
        assert video.stats.bytes_fetched == 0
    assert seed.uploaded() == floor
