"""Fixtures for the persistent cache: a cache folder per test, fixture videos, a seeder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video


@pytest.fixture
def swarm() -> Iterator[LocalSwarm]:
    """A seeder per test: its upload counters start at 0 for the same content seeded again."""
    with LocalSwarm() as seeder:
        yield seeder


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def cached_settings(cache_dir: Path) -> Settings:
    """Loopback settings with the cache on, in this test's own folder."""
    return Settings.loopback(metadata_timeout=20, piece_timeout=20, cache=True, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 96-frame H.264 MP4 (moov at the tail), keyframe every 12 frames."""
    path = tmp_path_factory.mktemp("videos") / "movie.mp4"
    make_video(path, frames=96, gop=12)
    return path
