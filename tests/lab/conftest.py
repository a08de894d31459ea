"""Fixtures for the swarm lab: a small fixture video and client seeders that always stop.

Kept small: lab modules share it (clients, relays, DHT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from torframes.testing.lab.clients import ClientSeeder, Tracker, launch, start_tracker
from torframes.testing.videos import make_video

#: Frames per second of the lab's fixture video (a frame shows its own index).
FPS = 24


@pytest.fixture(scope="module")
def lab_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s H.264 MP4 (moov at the tail, B-frames, audio) in a folder of its own."""
    folder = tmp_path_factory.mktemp("content")
    return make_video(folder / "clip.mp4", frames=96, fps=FPS, gop=12, bframes=2, audio=True)


@pytest.fixture
def seeders(tmp_path: Path) -> Iterator[Callable[..., ClientSeeder]]:
    """``seeders(client, torrent=..., content_dir=..., **launch_options)``: a started seeder.

    Each gets its own workdir under the test's ``tmp_path``; every one is
    closed when the test ends, passed or failed.
    """
    started: list[ClientSeeder] = []

    def start(client: str, **options: Any) -> ClientSeeder:
        workdir = tmp_path / f"{client}-{len(started)}"
        seeder = launch(client, workdir=workdir, **options)
        started.append(seeder)
        return seeder

    yield start
    for seeder in started:
        seeder.close()


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[Tracker]:
    """The lab's opentracker (HTTP and UDP on 127.0.0.1), stopped after the test."""
    started = start_tracker(tmp_path)
    yield started
    started.close()
