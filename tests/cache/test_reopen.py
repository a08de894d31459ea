"""Re-opening a cached torrent: no peer, no byte, the same tables; only new pieces fetched."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from torframes.api.video import open_video
from torframes.errors import SettingsError
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24


async def test_second_open_needs_no_peer(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings, cache_dir: Path
) -> None:
    seed = swarm.seed({"dir/movie.mp4": movie.read_bytes()}, piece_size=16 * KiB)
    async with Client(cached_settings) as client:
        first = await open_video(client, seed.magnet)
        row = first.keyframes.iloc[2]
        await first.frame(row)
        stats = first.stats
        assert not stats.metadata_from_cache
        assert not stats.index_from_cache
        assert stats.bytes_fetched == stats.piece_floor > 0
        samples, tracks = first.samples, first.tracks
    assert seed.wait_uploaded(stats.piece_floor) == stats.piece_floor
    swarm.remove(seed)  # the seeder is gone: nothing can come from a peer now
    async with Client(cached_settings) as client:
        second = await open_video(client, seed.infohash)
        image = await second.frame(row)  # waits for the check of the pieces kept, no peer
        assert read_frame_index(image) == round(float(row["time"]) * FPS)
        again = second.stats
    assert again.metadata_from_cache
    assert again.index_from_cache
    assert again.bytes_fetched == 0
    assert again.cache_pieces == again.floor_pieces
    assert seed.uploaded() == stats.piece_floor
    pd.testing.assert_frame_equal(second.samples, samples)
    pd.testing.assert_frame_equal(second.tracks, tracks)
    names = [p.name for p in cache_dir.rglob("*")]
    assert not any("movie" in name or name == "dir" for name in names), names


@pytest.mark.parametrize("piece_size", [16 * KiB, 32 * KiB])
async def test_cached_frames_cost_nothing_new_pick_only_its_pieces(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings, piece_size: int
) -> None:
    seed = swarm.seed(movie, piece_size=piece_size)
    async with Client(cached_settings) as client:
        video = await open_video(client, seed.magnet)
        picks = video.keyframes.iloc[[0, 2]]
        for _, row in picks.iterrows():
            image = await video.frame(row)
            assert read_frame_index(image) == round(float(row["time"]) * FPS)
        first_floor = video.stats.piece_floor
        first_needed = video.needed_pieces
    assert seed.wait_uploaded(first_floor) == first_floor
    async with Client(cached_settings) as client:
        video = await open_video(client, seed.magnet)
        for _, row in picks.iterrows():  # the same frames: all from the cache
            image = await video.frame(row)
            assert read_frame_index(image) == round(float(row["time"]) * FPS)
        assert video.stats.bytes_fetched == 0
        assert seed.uploaded() == first_floor
        new = video.keyframes.iloc[[6]]
        await video.frame(new.iloc[0])
        new_pieces = video.needed_pieces - first_needed
        cost = seed.transfer_size(new_pieces)
        assert new_pieces
        assert video.stats.bytes_fetched == cost
    assert seed.wait_uploaded(first_floor + cost) == first_floor + cost


async def test_unusable_cache_folder_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    settings = Settings.loopback(cache=True, cache_dir=blocker / "cache")
    client = Client(settings)
    with pytest.raises(SettingsError, match=r"cannot use the cache folder .*TORFRAMES_CACHE=0"):
        await client.start()
    await client.close()


async def test_a_matroska_index_is_cached_as_data_and_locates_with_no_peer(
    swarm: LocalSwarm, cached_settings: Settings, cache_dir: Path, tmp_path: Path
) -> None:
    """Matroska Cues rows are placed on demand by the index's locator: cached as JSON data."""
    from torframes.testing.videos import make_video

    path = make_video(tmp_path / "clip.mkv", container="mkv", frames=96, gop=24)
    seed = swarm.seed(path, piece_size=16 * KiB)
    async with Client(cached_settings) as client:
        first = await open_video(client, seed.magnet)
        assert first.samples["size"].isna().all()  # Cues rows: placed by the locator
        row = first.keyframes.iloc[2]
        await first.frame(row)
        floor = first.stats.piece_floor
    assert seed.wait_uploaded(floor) == floor
    manifests = list(cache_dir.rglob("index/*.json"))
    assert manifests
    assert all(b"matroska" in m.read_bytes() for m in manifests)
    swarm.remove(seed)
    async with Client(cached_settings) as client:
        second = await open_video(client, seed.infohash)
        assert second.stats.index_from_cache
        image = await second.frame(second.keyframes.iloc[2])
        assert read_frame_index(image) == round(float(row["time"]) * FPS)
        assert second.stats.bytes_fetched == 0
    assert seed.uploaded() == floor
