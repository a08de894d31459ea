"""Fixtures shared by the whole suite: loopback settings, a client, a seeder.

Everything here stays on 127.0.0.1 with DHT, LSD, UPnP, NAT-PMP and uTP off.
Directories may override these fixtures with their own (same names).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from torframes.settings import Settings
from torframes.testing import LocalSwarm
from torframes.torrent.client import Client


@pytest.fixture(autouse=True)
def _no_shared_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test shares the user's persistent cache: a fresh cache folder, off unless asked for.

    Child processes (the command line, scripts) inherit the variables; the
    cache's own tests (``tests/cache``) turn it on with ``Settings(cache=True)``.
    """
    monkeypatch.setenv("TORFRAMES_CACHE", "0")
    monkeypatch.setenv("TORFRAMES_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def swarm() -> Iterator[LocalSwarm]:
    """One loopback seeder for the whole session; each test seeds its own content."""
    with LocalSwarm() as seeder:
        yield seeder


@pytest.fixture
def loopback_settings() -> Settings:
    """Client settings that never leave 127.0.0.1, with timeouts short enough for tests."""
    return Settings.loopback(metadata_timeout=10.0, piece_timeout=10.0)


@pytest.fixture
async def client(loopback_settings: Settings) -> AsyncIterator[Client]:
    """A started client on loopback, closed after the test."""
    async with Client(loopback_settings) as started:
        yield started
