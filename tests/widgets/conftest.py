"""Widgets against a real ``Video``: the bundled sample seeded on a loopback swarm."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from torframes.api.video import Video
from torframes.settings import Settings
from torframes.testing import LocalSwarm, sample_path
from torframes.torrent.client import Client

KiB = 1024
#: The sample's frame rate: a keyframe at time t shows frame round(t * FPS).
FPS = 24


@pytest.fixture(scope="module")
def magnet(swarm: LocalSwarm) -> str:
    return swarm.seed(sample_path(), piece_size=64 * KiB).magnet


@pytest.fixture
async def video(magnet: str) -> AsyncIterator[Video]:
    """The sample, opened by a fresh client: only the index probe's pieces are held."""
    async with Client(Settings.loopback(metadata_timeout=20, piece_timeout=20)) as client:
        yield await client.open(magnet)
