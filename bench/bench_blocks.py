"""Bytes and time of piece mode against block mode (issue 16): the table and five screenshots.

    .venv/bin/python -m bench.bench_blocks [--size-mb 40] [--shots 5] [--pieces 256,4096,16384]

A noisy H.264 MP4 (``moov`` at the tail, cached in ``bench/.cache``) is
seeded on a loopback swarm as a v1, a v2 and a hybrid torrent at each piece
size. Each mode gets a fresh client and takes the keyframe table and five
screenshots (the same ``"even"`` picks):

- ``piece``: whole pieces through libtorrent (``read_mode="piece"``);
- ``block``: 16 KiB blocks over the peer wire (``read_mode="block"``); v2 and
  hybrid blocks checked against their merkle roots, v1 with ``verify="none"``.

Reported per run: what the seeder uploaded (its own ``total_payload_upload``)
against the block floor and the piece floor, BEP 52 hash bytes, the time to
the table and to all screenshots, and block time / piece time in the same
run. Nothing is asserted. For a quick smoke: ``--size-mb 8 --pieces 256,4096``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm, Seed
from torframes.testing.videos import make_video
from torframes.torrent.client import Client

KiB, MiB = 1024, 1024 * 1024
CACHE = Path(__file__).resolve().parent / ".cache"


@dataclass
class Run:
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


async def one_run(seed: Seed, version: str, piece_size: int, mode: str, n: int) -> Run:
    settings = Settings.loopback(
        read_mode=mode,
        verify="none" if version == "v1" else "piece",
        piece_timeout=600,
        cache=False,
    )
    before = seed.uploaded()
    started = time.monotonic()
    async with Client(settings) as client:
        video = await open_video(client, seed.magnet, progress=False)
        table_s = time.monotonic() - started
        async for _row, _image in video.frames(video.select(n, "even"), progress=False):
            pass
        shots_s = time.monotonic() - started
        stats = video.stats
    expected = stats.block_bytes + stats.bytes_fetched
    uploaded = seed.wait_uploaded(before + expected) - before
    return Run(
        version,
        piece_size,
        mode,
        uploaded,
        stats.hash_bytes,
        stats.block_floor,
        stats.piece_floor,
        table_s,
        shots_s,
    )


async def bench(size_mb: int, n: int, piece_sizes: list[int]) -> list[Run]:
    path = make_file(size_mb)
    runs: list[Run] = []
    with LocalSwarm() as swarm:
        for version in ("v1", "v2", "hybrid"):
            for piece_size in piece_sizes:
                seed = swarm.seed(path, piece_size=piece_size, version=version)
                for mode in ("piece", "block"):
                    runs.append(await one_run(seed, version, piece_size, mode, n))
                swarm.remove(seed)
    return runs


def report(runs: list[Run]) -> None:
    print(
        f"{'torrent':>7} {'piece':>7} {'mode':>6} {'uploaded':>11} {'/block floor':>12} "
        f"{'/piece floor':>12} {'hash B':>7} {'table s':>8} {'shots s':>8} {'time/piece':>10}"
    )
    piece_time = {(r.version, r.piece_size): r.shots_s for r in runs if r.mode == "piece"}
    for r in runs:
        ratio = r.shots_s / piece_time[(r.version, r.piece_size)]
        print(
            f"{r.version:>7} {r.piece_size // KiB:>5}Ki {r.mode:>6} {r.uploaded:>11,} "
            f"{r.uploaded / r.block_floor:>12.2f} {r.uploaded / r.piece_floor:>12.3f} "
            f"{r.hash_bytes:>7,} {r.table_s:>8.2f} {r.shots_s:>8.2f} {ratio:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=40)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--pieces", default="256,4096,16384", help="piece sizes in KiB")
    args = parser.parse_args()
    sizes = [int(kib) * KiB for kib in args.pieces.split(",")]
    report(asyncio.run(bench(args.size_mb, args.shots, sizes)))


if __name__ == "__main__":
    main()
