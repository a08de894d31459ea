"""Widgets against a real ``Video``: the bundled sample seeded on a loopback swarm."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

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


async def until(widget: Any, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until ``predicate()`` holds, re-checked each time ``widget``'s value changes."""
    changed = asyncio.Event()
    widget.observe(lambda _change: changed.set(), names="value")

    async def watch() -> None:
        while not predicate():
            await changed.wait()
            changed.clear()

    await asyncio.wait_for(watch(), timeout)
