"""Jobs per minute of ``ScreenshotService`` on the loopback swarm, and peak memory.

    .venv/bin/python -m bench.bench_service [--jobs 200] [--workers 1,8,32] [--frames 3]

One seeder (this process) serves ``--jobs`` small torrents (a 48-frame
H.264 MP4 of 57 KB, 16 KiB pieces, each torrent under its own name). For
each worker count a fresh child process runs the whole batch through a
``ScreenshotService`` with its own store and piece folder (metadata, index,
``--frames`` screenshots per job), so every run fetches everything and each
process's peak RSS is its own. A second child run per worker count traces
Python allocations (``tracemalloc``, which slows allocation, so its time is
not the one reported). Prints a table; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024


def child(sources: Path, workers: int, frames: int, trace: bool) -> None:
    """Run the batch in this process; print one JSON line of figures."""
    if trace:
        import tracemalloc

        tracemalloc.start()
    from torframes.service import ScreenshotService
    from torframes.settings import Settings

    magnets = sources.read_text().split()
    folder = Path(tempfile.mkdtemp(prefix="bench-service-"))
    settings = Settings.loopback(  # no persistent cache: every run starts from nothing
        service_metadata_timeout=30,
        service_index_timeout=60,
        service_frames_timeout=60,
        cache=False,
    )

    async def run() -> tuple[float, dict[str, int]]:
        async with ScreenshotService(
            settings, workers=workers, store=folder / "jobs.sqlite", n=frames, max_side=160
        ) as service:
            started = time.perf_counter()
            results = await service.run(magnets)
            seconds = time.perf_counter() - started
        counts = results["status"].value_counts().to_dict()
        return seconds, {str(k): int(v) for k, v in counts.items()}

    seconds, counts = asyncio.run(run())
    peak = 0
    if trace:
        import tracemalloc

        peak = tracemalloc.get_traced_memory()[1]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "counts": counts, "traced": peak, "rss": rss}))


def run_child(sources: Path, workers: int, frames: int, trace: bool) -> dict:
    command = [
        sys.executable, "-m", "bench.bench_service", "--child", str(sources),
        "--workers", str(workers), "--frames", str(frames),
    ] + (["--trace"] if trace else [])  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, int(args.workers), args.frames, args.trace)
        return

    from torframes.testing import LocalSwarm, make_video

    folder = Path(tempfile.mkdtemp(prefix="bench-service-seed-"))
    video = make_video(folder / "clip.mp4", frames=48, gop=12)
    data = video.read_bytes()
    with LocalSwarm() as swarm:
        started = time.perf_counter()
        seeds = [swarm.seed({f"bench-{i:05d}.mp4": data}, piece_size=16 * 1024)
                 for i in range(args.jobs)]  # fmt: skip
        print(f"seeded {len(seeds)} torrents of {len(data):,} bytes "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        sources = folder / "sources.txt"
        sources.write_text("\n".join(s.magnet for s in seeds) + "\n")
        rows = []
        for workers in (int(w) for w in args.workers.split(",")):
            plain = run_child(sources, workers, args.frames, trace=False)
            traced = None if args.no_trace else run_child(sources, workers, args.frames, True)
            rows.append((workers, plain, traced))
            print(f"  {workers} workers: {plain['seconds']:.2f} s", flush=True)

    print()
    print(f"{args.jobs} jobs, {args.frames} frames each, loopback, {os.cpu_count()} CPUs")
    header = f"{'workers':>7}  {'done':>5}  {'seconds':>8}  {'jobs/min':>9}  "
    header += f"{'peak RSS MiB':>12}  {'traced peak MiB':>15}"
    print(header)
    for workers, plain, traced in rows:
        done = plain["counts"].get("done", 0)
        per_minute = done / plain["seconds"] * 60
        traced_mib = f"{traced['traced'] / MiB:15.1f}" if traced else f"{'-':>15}"
        print(
            f"{workers:>7}  {done:>5}  {plain['seconds']:>8.2f}  {per_minute:>9.0f}  "
            f"{plain['rss'] / MiB:>12.1f}  {traced_mib}"
        )


if __name__ == "__main__":
    main()
