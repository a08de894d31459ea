"""Fixtures for the swarm tests: one small fixture video, real clients that always stop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from torframes.testing.lab.clients import ClientSeeder, launch
from torframes.testing.videos import make_video

#: Frames per second of the fixture video (each frame shows its own index).
FPS = 24


@pytest.fixture(scope="module")
def swarm_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10 s H.264 MP4 with its moov at the tail, in a folder of its own."""
    folder = tmp_path_factory.mktemp("content")
    return make_video(folder / "clip.mp4", frames=240, fps=FPS, gop=24, noise=True)


@pytest.fixture
def seeders(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``seeders(client, torrent=..., content_dir=..., **options)``: a started lab seeder.

    Options are :func:`~torframes.testing.lab.clients.launch`'s. Every one is
    closed when the test ends.
    """
    started: list[ClientSeeder] = []

    def start(client: str, **options: Any) -> ClientSeeder:
        seeder = launch(client, workdir=tmp_path / f"{client}-{len(started)}", **options)
        started.append(seeder)
        return seeder

    yield start
    for seeder in started:
        seeder.close()
