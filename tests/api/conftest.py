"""Fixtures for pipeline tests: fixture videos seeded on a loopback swarm."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.torrent.client import Client


@pytest.fixture(scope="module")
def swarm() -> Iterator[LocalSwarm]:
    with LocalSwarm() as seeder:
        yield seeder


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with Client(Settings.loopback(metadata_timeout=20, piece_timeout=20)) as leecher:
        yield leecher


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")
