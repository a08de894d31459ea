"""The persistent cache: first open against second, and a notebook-style session twice.

    .venv/bin/python -m bench.bench_cache [--size-mb 200] [--grid 10]

On the moov-at-tail benchmark file of ``bench_pipeline`` (encoded once,
kept in ``bench/.cache``), seeded on a loopback swarm, with a fresh cache
folder: time and bytes fetched of

- the first open (metadata from the peer, index probed) and the second open
  in a new client (everything from the cache);
- a notebook-style session: open, a grid of ``--grid`` evenly spread
  keyframes, close; then the same session again.

Bytes are the leecher's payload bytes (libtorrent's counter) and the
seeder's upload counter. Prints the figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from bench.bench_pipeline import make_files
from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm, Seed
from torframes.torrent.client import Client

KiB = 1024


async def open_once(settings: Settings, seed: Seed) -> tuple[float, int]:
    """Seconds and bytes of one open in a new client."""
    async with Client(settings) as client:
        started = time.monotonic()
        video = await open_video(client, seed.magnet)
        return time.monotonic() - started, video.stats.bytes_fetched


async def session(settings: Settings, seed: Seed, grid: int) -> tuple[float, int]:
    """Seconds and bytes of open, a grid of ``grid`` keyframes, close."""
    started = time.monotonic()
    async with Client(settings) as client:
        video = await open_video(client, seed.magnet)
        async for _row, _image in video.frames(video.select(grid, "even"), max_side=240):
            pass
        fetched = video.stats.bytes_fetched
    return time.monotonic() - started, fetched


async def bench(size_mb: int, grid: int) -> None:
    path = make_files(size_mb)["tail"]
    folder = Path(tempfile.mkdtemp(prefix="torframes-bench-cache-"))
    try:
        settings = Settings.loopback(
            metadata_timeout=60, piece_timeout=60, cache=True, cache_dir=folder / "cache"
        )
        with LocalSwarm() as swarm:
            seed = swarm.seed(path, piece_size=256 * KiB)
            print(f"{path.name}: {path.stat().st_size:,} bytes, pieces of 256 KiB")
            for label in ("first open", "second open"):
                seconds, fetched = await open_once(settings, seed)
                print(f"{label:28} {seconds:7.3f} s {fetched:>12,} B fetched")
            shutil.rmtree(folder / "cache")
            uploaded = seed.uploaded()
            for label in ("session (open, grid, close)", "same session again"):
                seconds, fetched = await session(settings, seed, grid)
                sent = seed.uploaded() - uploaded
                uploaded += sent
                print(f"{label:28} {seconds:7.3f} s {fetched:>12,} B fetched {sent:>12,} B sent")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--grid", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(bench(args.size_mb, args.grid))


if __name__ == "__main__":
    main()
