"""Fixtures for the batch service: a loopback seeder, fixture videos, dead magnets, gated seeds.

Everything stays on 127.0.0.1. Helpers are handed out as fixtures (the
suite imports test modules with ``--import-mode=importlib``, so test files
do not import each other or this file).

A *gated* seed holds the pieces a job needs for its index and its first
frame, but not those of its later frames (they are zeroed on the seeder's
disk and libtorrent re-checks it): the job reaches its frames and stalls
there, with nothing in transit, until the gate opens (the bytes come back
and the seeder checks again). Tests use it to stop a batch at a known
point without sleeping.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from torframes.settings import Settings
from torframes.testing import LocalSwarm, Seed, make_video
from torframes.testing.oracle import keyframe_packets

PIECE = 16 * 1024

#: Keyframe times the gated tests ask for: each in a piece of its own, none
#: holding any byte of the index (so resuming must find the first frame's
#: piece in storage, not in the pieces the index brought).
GATED_TIMES = (1.0, 2.0, 3.0)

LOOPBACK_ENV = Settings.loopback().to_environment()


@pytest.fixture(scope="module")
def swarm() -> Iterator[LocalSwarm]:
    """One loopback seeder per test module."""
    with LocalSwarm() as seeder:
        yield seeder


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small H.264 MP4 (48 frames, a keyframe every 12): three pieces of 16 KiB."""
    return make_video(tmp_path_factory.mktemp("service-videos") / "clip.mp4", frames=48, gop=12)


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """96 frames, a keyframe every 12 (every 0.5 s), moov at the tail: eight pieces."""
    folder = tmp_path_factory.mktemp("service-long")
    return make_video(folder / "long.mp4", frames=96, gop=12)


@pytest.fixture
def settings_for() -> Callable[..., Settings]:
    """Loopback settings with short service timeouts; keywords override any field."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "metadata_timeout": 10.0,
            "piece_timeout": 10.0,
            "service_metadata_timeout": 1.0,
            "service_index_timeout": 20.0,
            "service_frames_timeout": 20.0,
            "service_max_retries": 1,
            "service_backoff": 0.1,
            "service_backoff_max": 1.0,
            "service_poll_interval": 0.2,
        }
        values.update(overrides)
        return Settings.loopback(**values)

    return make


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def closed_port() -> Callable[[], int]:
    """A loopback port nothing listens on (bound, then released)."""
    return _closed_port


@pytest.fixture
def dead_magnet() -> Callable[[str], str]:
    """A magnet whose only peer (``x.pe``) is a port nothing listens on."""

    def make(key: str) -> str:
        infohash = random.Random(key).randbytes(20).hex()
        return f"magnet:?xt=urn:btih:{infohash}&dn={key}&x.pe=127.0.0.1:{_closed_port()}"

    return make


@pytest.fixture
def truncated_mp4(clip: Path, tmp_path: Path) -> Callable[[str], bytes]:
    """Bytes of the clip with its ``moov`` cut off (the tail box)."""

    def make(key: str) -> bytes:
        data = clip.read_bytes()
        moov = _top_level_boxes(data)["moov"][0]
        return data[: moov + 20]

    return make


def _top_level_boxes(data: bytes) -> dict[str, tuple[int, int]]:
    boxes = {}
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes[kind.decode("latin-1")] = (offset, size)
        if size < 8:
            break
        offset += size
    return boxes


def _pieces(start: int, length: int) -> set[int]:
    return set(range(start // PIECE, (start + length - 1) // PIECE + 1))


def gated_holes(path: Path, times: tuple[float, ...] = GATED_TIMES) -> set[int]:
    """Pieces to withhold so a job asking for ``times`` gets its index and first frame only."""
    data = path.read_bytes()
    boxes = _top_level_boxes(data)
    moov_at, moov_size = boxes["moov"]
    mdat_at, _ = boxes["mdat"]
    keyframes = {
        round(row.time, 3): (row.offset, row.size) for row in keyframe_packets(path).itertuples()
    }
    needed = _pieces(0, mdat_at + 16) | _pieces(moov_at, moov_size)
    first = _pieces(*keyframes[times[0]])
    assert not first & needed, "fixture: the first frame shares a piece with the index"
    needed |= first
    holes = set()
    for moment in times[1:]:
        frame_pieces = _pieces(*keyframes[moment])
        assert not frame_pieces & needed, "fixture: a later frame shares a piece with the index"
        holes |= frame_pieces
    return holes


@dataclass
class Gate:
    """A seed missing some pieces until :meth:`open`; counts its uploads across the re-checks."""

    swarm: LocalSwarm
    seed: Seed
    data: bytes
    holes: set[int]
    earlier: int = 0
    opened: bool = field(default=False)

    @property
    def path(self) -> Path:
        return self.seed.save_path / self.seed.layout.files[0].path

    def close(self) -> Gate:
        with self.path.open("r+b") as handle:
            for piece in self.holes:
                handle.seek(piece * PIECE)
                handle.write(bytes(min(PIECE, len(self.data) - piece * PIECE)))
        self._recheck(self.seed.num_pieces - len(self.holes))
        self.seed.handle.prioritize_pieces([0] * self.seed.num_pieces)
        return self

    def open(self) -> None:
        """Put the bytes back; the seeder re-checks and seeds every piece (peers reconnect)."""
        self.earlier += self.seed.uploaded()  # a re-check starts the counter over
        self.path.write_bytes(self.data)
        self._recheck(self.seed.num_pieces)
        self.opened = True

    def uploaded(self) -> int:
        """Payload bytes the seeder sent for this torrent, before and after re-checks."""
        return self.earlier + self.seed.uploaded()

    def _recheck(self, pieces: int, timeout: float = 10.0) -> None:
        import libtorrent

        self.seed.handle.force_recheck()
        deadline = time.monotonic() + timeout
        checking = (
            libtorrent.torrent_status.checking_files,
            libtorrent.torrent_status.checking_resume_data,
        )
        while True:
            status = self.seed.handle.status()
            if status.state not in checking and status.num_pieces == pieces:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"seeder still {status.state}, {status.num_pieces} pieces")
            self.swarm._wait_for_alert(0.05)


@pytest.fixture
def gate(long_clip: Path) -> Callable[[LocalSwarm, str], Gate]:
    """Seed a copy of ``long_clip`` named ``name`` whose later frames are withheld."""
    holes = gated_holes(long_clip)
    data = long_clip.read_bytes()

    def make(swarm: LocalSwarm, name: str) -> Gate:
        seed = swarm.seed({name: data}, piece_size=PIECE)
        return Gate(swarm, seed, data, holes).close()

    return make


@pytest.fixture
def loopback_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``TORFRAMES_*`` variables for loopback settings, set for the test (and its children)."""
    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(LOOPBACK_ENV)


@pytest.fixture
def gated_times() -> tuple[float, ...]:
    """The keyframe times to ask of a gated seed's job (see :func:`gated_holes`)."""
    return GATED_TIMES
