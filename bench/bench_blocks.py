"""Bytes and time of piece mode against block mode (issue 16): the table and five screenshots.

    .venv/bin/python -m bench.bench_blocks [--size-mb 40] [--shots 5] [--pieces 256,4096,16384]

A noisy H.264 MP4 (``moov`` at the tail, cached in ``bench/.cache``) is
seeded on a loopback swarm as a v1, a v2 and a hybrid torrent at each piece
size. Each mode gets a fresh client and takes the keyframe table and five
screenshots (the same ``"even"`` picks):

- ``piece``: whole pieces through libtorrent (``read_mode="piece"``);
- ``block``: 16 KiB blocks over the peer wire (``read_mode="block"``); v2 and
  hybrid blocks checked against their merkle roots, v1 with ``verify="none"``.

Reported per run: what the seeders uploaded (their own counters) against
the block floor and the piece floor, BEP 52 hash bytes, the time to the
table and to all screenshots, and block time / piece time in the same run.
Nothing is asserted. For a quick smoke: ``--size-mb 8 --pieces 256,4096``.

Scenarios: ``loopback`` (one libtorrent seeder, unshaped) and, from the
swarm lab (:class:`torframes.testing.lab.Lab`), ``broadband`` (four
libtorrent seeders, each behind a relay with 20 ms one-way latency and
2 MB/s) and ``slow`` (three seeders, 100 ms one way, 200 KB/s each).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.lab import Lab, Shape, total_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video
from torframes.torrent.client import Client

KiB, MiB = 1024, 1024 * 1024
CACHE = Path(__file__).resolve().parent / ".cache"


@dataclass
class Run:
    scenario: str
    version: str
    piece_size: int
    mode: str
    uploaded: int
    hash_bytes: int
    block_floor: int
    piece_floor: int
    table_s: float
    shots_s: float


def make_file(size_mb: int) -> Path:
    """A noisy 640x360 H.264 MP4 of about ``size_mb`` MB, cached."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"blocks-{size_mb}mb.mp4"
    if not path.exists():
        frames = int(size_mb * 1_000_000 / 43_000) + 1  # ~43 KB per noisy frame
        print(f"encoding {frames} frames into {path.name} (once; cached)…", flush=True)
        partial = make_video(
            path.with_suffix(".partial.mp4"),
            frames=frames,
            width=640,
            height=360,
            gop=48,
            noise=True,
        )
        partial.rename(path)
    return path


async def one_run(
    settings: Settings, source: str | bytes, peers: list[tuple[str, int]] | None, n: int
) -> tuple[float, float, Any]:
    """Table and ``n`` screenshots with a fresh client: (table s, shots s, stats)."""
    started = time.monotonic()
    async with Client(settings) as client:
        video = await open_video(client, source, peers=peers, progress=False)
        table_s = time.monotonic() - started
        async for _row, _image in video.frames(video.select(n, "even"), progress=False):
            pass
        return table_s, time.monotonic() - started, video.stats


def mode_settings(base: Settings, version: str, mode: str) -> Settings:
    verify = "none" if version == "v1" else "piece"
    return base.model_copy(update={"read_mode": mode, "verify": verify})


async def loopback(path: Path, n: int, piece_sizes: list[int]) -> list[Run]:
    runs: list[Run] = []
    with LocalSwarm() as swarm:
        for version in ("v1", "v2", "hybrid"):
            for piece_size in piece_sizes:
                seed = swarm.seed(path, piece_size=piece_size, version=version)
                for mode in ("block", "piece"):  # block first: nothing of it in flight later
                    base = Settings.loopback(piece_timeout=600, cache=False)
                    before = seed.uploaded()
                    table_s, shots_s, stats = await one_run(
                        mode_settings(base, version, mode), seed.magnet, None, n
                    )
                    wanted = before + stats.block_bytes + stats.bytes_fetched
                    uploaded = seed.wait_uploaded(wanted) - before
                    runs.append(
                        Run("loopback", version, piece_size, mode, uploaded, stats.hash_bytes,
                            stats.block_floor, stats.piece_floor, table_s, shots_s)
                    )  # fmt: skip
                swarm.remove(seed)
    return runs


SHAPES = {"broadband": (4, Shape(latency_s=0.02, rate=2e6)), "slow": (3, Shape(0.1, 2e5))}


async def shaped(name: str, path: Path, n: int, piece_sizes: list[int]) -> list[Run]:
    """Piece against block mode in a lab of shaped libtorrent seeders (their own counters)."""
    count, shape = SHAPES[name]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-blocks-") as folder:
        for version in ("v1", "v2"):
            for piece_size in piece_sizes:
                torrent = make_torrent(
                    path, Path(folder) / f"{version}-{piece_size}.torrent",
                    piece_size=piece_size, version=version,
                )  # fmt: skip
                with Lab(Path(folder) / f"lab-{version}-{piece_size}") as lab:
                    for _ in range(count):
                        lab.seed(torrent, path.parent, shape=shape)
                    for mode in ("block", "piece"):  # block first: nothing of it in flight later
                        before = total_uploaded(lab.seeders)
                        base = lab.settings(piece_timeout=600, cache=False)
                        table_s, shots_s, stats = await one_run(
                            mode_settings(base, version, mode), torrent.read_bytes(), lab.peers(), n
                        )
                        uploaded = total_uploaded(lab.seeders) - before
                        runs.append(
                            Run(name, version, piece_size, mode, uploaded, stats.hash_bytes,
                                stats.block_floor, stats.piece_floor, table_s, shots_s)
                        )  # fmt: skip
    return runs


async def bench(size_mb: int, n: int, piece_sizes: list[int], scenarios: list[str]) -> list[Run]:
    path = make_file(size_mb)
    runs: list[Run] = []
    for scenario in scenarios:
        if scenario == "loopback":
            runs += await loopback(path, n, piece_sizes)
        else:
            runs += await shaped(scenario, path, n, piece_sizes)
    return runs


def report(runs: list[Run]) -> None:
    head = ("scenario", "torrent", "piece", "mode", "uploaded", "/block floor", "/piece floor")
    head += ("hash B", "table s", "shots s", "time/piece")
    widths = (9, 7, 7, 6, 11, 12, 12, 7, 8, 8, 10)
    print(" ".join(f"{title:>{width}}" for title, width in zip(head, widths, strict=True)))
    piece_time = {
        (r.scenario, r.version, r.piece_size): r.shots_s for r in runs if r.mode == "piece"
    }
    for r in runs:
        cells = (
            r.scenario,
            r.version,
            f"{r.piece_size // KiB}Ki",
            r.mode,
            f"{r.uploaded:,}",
            f"{r.uploaded / r.block_floor:.2f}",
            f"{r.uploaded / r.piece_floor:.3f}",
            f"{r.hash_bytes:,}",
            f"{r.table_s:.2f}",
            f"{r.shots_s:.2f}",
            f"{r.shots_s / piece_time[(r.scenario, r.version, r.piece_size)]:.2f}",
        )
        print(" ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=40)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--pieces", default="256,4096,16384", help="piece sizes in KiB")
    parser.add_argument(
        "--scenario", action="append", choices=["loopback", *SHAPES], help="default: all"
    )
    args = parser.parse_args()
    sizes = [int(kib) * KiB for kib in args.pieces.split(",")]
    scenarios = args.scenario or ["loopback", *SHAPES]
    report(asyncio.run(bench(args.size_mb, args.shots, sizes, scenarios)))


if __name__ == "__main__":
    main()
