"""Damaged entries are never used: corrupted pieces are fetched again, bad indexes re-parsed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from torframes.api.video import open_video
from torframes.cache.layout import FORMAT_VERSION, CacheLayout
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24


async def test_corrupted_cached_piece_is_fetched_again(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings, cache_dir: Path
) -> None:
    seed = swarm.seed(movie, piece_size=16 * KiB)
    async with Client(cached_settings) as client:
        video = await open_video(client, seed.magnet)
        row = video.keyframes.iloc[3]
        await video.frame(row)
        floor = video.stats.piece_floor
    assert seed.wait_uploaded(floor) == floor
    piece = int(row["piece_first"])
    _flip_a_byte_of(
        piece, movie, seed.piece_length, CacheLayout(cache_dir).pieces_dir(seed.infohash)
    )
    async with Client(cached_settings) as client:
        video = await open_video(client, seed.magnet)
        assert piece not in video.torrent.held_pieces()  # libtorrent's hash check refused it
        image = await video.frame(row)
        assert read_frame_index(image) == round(float(row["time"]) * FPS)
        cost = seed.transfer_size([piece])
        assert video.stats.bytes_fetched == cost
    assert seed.wait_uploaded(floor + cost) == floor + cost


def _flip_a_byte_of(piece: int, movie: Path, piece_length: int, storage: Path) -> None:
    """Flip one byte of ``piece`` wherever libtorrent stored it (a file or its part file)."""
    content = movie.read_bytes()[piece * piece_length : (piece + 1) * piece_length]
    for path in storage.rglob("*"):
        data = path.read_bytes() if path.is_file() else b""
        where = data.find(content)
        if where >= 0:
            with path.open("r+b") as stored:
                stored.seek(where + len(content) // 2)
                stored.write(bytes([content[len(content) // 2] ^ 0xFF]))
            return
    raise AssertionError(f"piece {piece} is not in the cache's storage")


def _damage_truncate(folder: Path) -> None:
    table = folder / "0.samples.parquet"
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])


def _damage_version(folder: Path) -> None:
    manifest = folder / "0.json"
    values = json.loads(manifest.read_text())
    values["version"] = 0
    manifest.write_text(json.dumps(values))


def _damage_other_table(folder: Path) -> None:
    # A whole, readable Parquet file that is not the one the manifest names.
    (folder / "0.samples.parquet").write_bytes((folder / "0.tracks.parquet").read_bytes())


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_version, _damage_other_table])
async def test_damaged_index_entry_is_reparsed(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings, cache_dir: Path, damage: object
) -> None:
    seed = swarm.seed(movie, piece_size=16 * KiB)
    async with Client(cached_settings) as client:
        first = await open_video(client, seed.magnet)
        samples, floor = first.samples, first.stats.piece_floor
    damage(CacheLayout(cache_dir).index_dir(seed.infohash))  # type: ignore[operator]
    async with Client(cached_settings) as client:
        second = await open_video(client, seed.magnet)
        assert not second.stats.index_from_cache
        assert second.stats.bytes_fetched == 0  # re-parsed from the pieces kept
        pd.testing.assert_frame_equal(second.samples, samples)
    async with Client(cached_settings) as client:  # and stored again
        third = await open_video(client, seed.magnet)
        assert third.stats.index_from_cache
    assert seed.uploaded() == floor


async def test_wrong_version_metadata_is_fetched_again(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings, cache_dir: Path
) -> None:
    seed = swarm.seed(movie, piece_size=16 * KiB)
    async with Client(cached_settings) as client:
        await open_video(client, seed.magnet)
    path = CacheLayout(cache_dir).metadata_path(seed.infohash)
    current = f"versioni{FORMAT_VERSION}e".encode()
    assert current in path.read_bytes()
    path.write_bytes(path.read_bytes().replace(current, b"versioni0e"))
    async with Client(cached_settings) as client:
        video = await open_video(client, seed.magnet)
        assert not video.stats.metadata_from_cache
    async with Client(cached_settings) as client:
        video = await open_video(client, seed.magnet)
        assert video.stats.metadata_from_cache
