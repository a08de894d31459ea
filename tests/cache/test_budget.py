"""Eviction keeps the cache under budget: pieces first, then indexes, then metadata.

Within each kind, least recently used torrents first.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from torframes.api.video import open_video
from torframes.cache import cache_info
from torframes.cache.layout import CacheLayout
from torframes.cache.store import Cache
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024


async def _cache_two(
    swarm: LocalSwarm, movie: Path, tmp_path: Path, settings: Settings
) -> tuple[str, str]:
    other = make_video(tmp_path / "other.mp4", frames=48, gop=12, faststart=True)
    old, new = swarm.seed(movie, piece_size=16 * KiB), swarm.seed(other, piece_size=16 * KiB)
    async with Client(settings) as client:
        for seed in (old, new):
            video = await open_video(client, seed.magnet)
            await video.frame(video.keyframes.iloc[1])
    layout = CacheLayout(settings.cache_dir)
    os.utime(layout.used_path(old.infohash), (1_000_000, 1_000_000))  # used long ago
    return old.infohash, new.infohash


async def test_least_recently_used_loses_pieces_then_index_then_metadata(
    swarm: LocalSwarm, movie: Path, tmp_path: Path, cached_settings: Settings
) -> None:
    old, new = await _cache_two(swarm, movie, tmp_path, cached_settings)
    cache = Cache(cached_settings.cache_dir, 0)
    table = cache.table().set_index("infohash")
    assert list(table.index) == [new, old]  # most recently used first
    assert (table["piece_bytes"] > 0).all()
    assert (table["index_bytes"] > 0).all()
    everything = int(table["total_bytes"].sum())

    cache.max_bytes = everything - 1  # a byte over: the least recently used pieces go
    assert cache.enforce_budget() <= cache.max_bytes
    after = cache.table().set_index("infohash")
    assert after.loc[old, "piece_bytes"] == 0
    assert after.loc[old, "index_bytes"] == table.loc[old, "index_bytes"]
    assert after.loc[new].equals(table.loc[new])

    pieces = int(table["piece_bytes"].sum())
    cache.max_bytes = everything - pieces + 1  # the newer one's pieces go, before any index
    assert cache.enforce_budget() <= cache.max_bytes
    after = cache.table().set_index("infohash")
    assert (after["piece_bytes"] == 0).all()
    assert after["index_bytes"].equals(table["index_bytes"])

    metadata = int(table["metadata_bytes"].sum())
    cache.max_bytes = metadata + int(table.loc[new, "index_bytes"])  # then the old index
    assert cache.enforce_budget() <= cache.max_bytes
    after = cache.table().set_index("infohash")
    assert after.loc[old, "index_bytes"] == 0
    assert after.loc[new, "index_bytes"] == table.loc[new, "index_bytes"]
    assert after.loc[old, "metadata_bytes"] > 0

    cache.max_bytes = int(table.loc[new, "metadata_bytes"])  # every index, then old metadata
    assert cache.enforce_budget() <= cache.max_bytes
    after = cache.table()
    assert list(after["infohash"]) == [new]
    assert after.loc[0, "index_bytes"] == 0


async def test_client_close_keeps_the_budget(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings
) -> None:
    settings = cached_settings.model_copy(update={"cache_max_bytes": 48 * KiB})
    seed = swarm.seed(movie, piece_size=16 * KiB)
    async with Client(settings) as client:
        video = await open_video(client, seed.magnet)
        await video.frame(video.keyframes.iloc[1])
        kept = Cache(settings.cache_dir, 0).table()
        assert int(kept["total_bytes"].sum()) > 48 * KiB  # over budget while open
    table = cache_info(settings)  # closing evicted the pieces, kept the index
    assert int(table["total_bytes"].sum()) <= 48 * KiB
    assert list(table["infohash"]) == [seed.infohash]
    assert table.loc[0, "piece_bytes"] == 0
    assert table.loc[0, "index_bytes"] > 0
