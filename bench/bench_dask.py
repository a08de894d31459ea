"""Jobs per minute and peak memory per worker: the local executor vs Dask with 1, 2, 4 workers.

    .venv/bin/python -m bench.bench_dask [--jobs 200] [--dask 1,2,4] [--slots 8] [--frames 3]

One seeder (this process) serves ``--jobs`` small torrents (a 48-frame
H.264 MP4 of 57 KB, 16 KiB pieces, each torrent under its own name, as in
``bench_service``). Each run is a fresh child process with its own store
and no persistent cache, so every run fetches everything:

- ``local``: ``ScreenshotService(workers=--slots)`` in the child;
- ``dask W``: the child starts a ``LocalCluster`` of ``W`` worker
  processes with ``--slots`` task slots each (jobs in flight per worker) on
  127.0.0.1 and drives the batch with ``ScreenshotService(cluster=...)``.

Reported: jobs per minute; peak RSS of the process running the jobs (local)
or of each worker process and of the driver (Dask); CPU seconds per job in
the workers and in the driver (which alone writes the SQLite store). Then
:func:`paper_estimate` prints, from those measured costs, how many machines
1 million infohashes a day would need, with its assumptions stated. Asserts
nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
DAY = 24 * 3600


def _usage() -> dict[str, float]:
    """Peak RSS (bytes) and CPU seconds of the calling process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"rss": usage.ru_maxrss * 1024, "cpu": usage.ru_utime + usage.ru_stime}


def child(sources: Path, dask_workers: int, slots: int, frames: int) -> None:
    """Run the batch in this process (``dask_workers`` 0: locally); print one JSON line."""
    from torframes.service import ScreenshotService
    from torframes.settings import Settings

    magnets = sources.read_text().split()
    folder = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    atexit.register(shutil.rmtree, folder, True)  # nothing left behind
    settings = Settings.loopback(  # no persistent cache: every run starts from nothing
        service_metadata_timeout=30,
        service_index_timeout=60,
        service_frames_timeout=60,
        cache=False,
    )

    async def run(cluster: Any) -> dict[str, Any]:
        async with ScreenshotService(
            settings, workers=slots, store=folder / "jobs.sqlite", output=folder / "shots",
            n=frames, max_side=160, cluster=cluster,
        ) as service:  # fmt: skip
            dask = service.executor.dask_client if cluster is not None else None  # type: ignore[attr-defined]
            before = await dask.run(_usage) if dask is not None else {}
            driver_before = _usage()
            started = time.perf_counter()
            results = await service.run(magnets)
            seconds = time.perf_counter() - started
            driver_cpu = _usage()["cpu"] - driver_before["cpu"]
            workers = []
            if dask is not None:  # the batch's CPU, not the worker's start-up
                after = await dask.run(_usage)
                workers = [
                    {
                        "rss": usage["rss"],
                        "cpu": usage["cpu"] - before.get(address, {}).get("cpu", 0),
                    }
                    for address, usage in after.items()
                ]
        counts = results["status"].value_counts().to_dict()
        return {
            "seconds": seconds,
            "counts": {str(k): int(v) for k, v in counts.items()},
            "workers": workers,
            "driver_cpu": driver_cpu,
        }

    async def main() -> dict[str, Any]:
        if dask_workers == 0:
            return await run(None)
        from distributed import LocalCluster

        async with LocalCluster(
            n_workers=dask_workers, processes=True, threads_per_worker=slots,
            host="127.0.0.1", dashboard_address=None, worker_dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, asynchronous=True,
        ) as cluster:  # fmt: skip
            return await run(cluster)

    figures = asyncio.run(main())
    figures["driver"] = _usage()
    print(json.dumps(figures))


def run_child(sources: Path, dask_workers: int, slots: int, frames: int) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.bench_dask", "--child", str(sources),
        "--dask", str(dask_workers), "--slots", str(slots), "--frames", str(frames),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Costs:
    """Per-job costs measured on the loopback swarm (one good job, all its pieces local)."""

    worker_cpu_s: float  # CPU seconds in worker processes per job (decode, hash, encode...)
    driver_cpu_s: float  # CPU seconds in the driver per job (claim, record: SQLite)
    worker_rss: float  # peak RSS of one worker process, bytes


def paper_estimate(
    costs: Costs,
    *,
    jobs_per_day: float = 1_000_000,
    dead_share: float = 0.4,
    metadata_wait_s: float = 20.0,
    metadata_timeout_s: float = 60.0,
    dead_attempts: int = 4,
    pieces_per_job: int = 8,
    piece_bytes: int = 2 * MiB,
    fetch_s: float = 15.0,
    slots_per_worker: int = 100,
    workers_per_machine: int = 4,
    bandwidth_bytes_s: float = 50 * MiB,
    cores_per_machine: int = 4,
) -> str:
    """Machines for ``jobs_per_day`` infohashes, from measured costs and stated assumptions.

    Assumptions (keywords): ``dead_share`` of the infohashes never give
    metadata and hold a task slot ``metadata_timeout_s`` for each of their
    ``dead_attempts`` attempts (1 + ``service_max_retries``; backoff holds
    no slot); a live one waits ``metadata_wait_s`` for its metadata (DHT
    lookup, BEP 9) and ``fetch_s`` for its pieces (``pieces_per_job``
    pieces of ``piece_bytes``: the index and a few keyframes); a worker
    process keeps ``slots_per_worker`` jobs in flight (one libtorrent
    session: a few hundred torrents is comfortable), ``workers_per_machine``
    processes per machine of ``cores_per_machine`` cores and
    ``bandwidth_bytes_s`` of download. The machine count is the largest of
    three bounds (Little's law on slots, bandwidth, CPU); the single driver
    must also keep up recording (its CPU per job).
    """
    rate = jobs_per_day / DAY
    live = 1.0 - dead_share
    slot_seconds = live * (metadata_wait_s + fetch_s) + dead_share * (
        dead_attempts * metadata_timeout_s
    )
    in_flight = rate * slot_seconds  # Little's law
    by_slots = in_flight / (slots_per_worker * workers_per_machine)
    by_bandwidth = rate * live * pieces_per_job * piece_bytes / bandwidth_bytes_s
    by_cpu = rate * live * costs.worker_cpu_s / cores_per_machine
    machines = math.ceil(max(by_slots, by_bandwidth, by_cpu))
    driver_load = rate * costs.driver_cpu_s
    memory = workers_per_machine * costs.worker_rss / MiB
    lines = [
        f"On paper: {jobs_per_day:,.0f} infohashes a day = {rate:.1f} jobs/s",
        f"  assumptions: {dead_share:.0%} dead ({dead_attempts} attempts x "
        f"{metadata_timeout_s:g} s), live: {metadata_wait_s:g} s metadata + {fetch_s:g} s "
        f"for {pieces_per_job} pieces of {piece_bytes / MiB:g} MiB",
        f"  a job holds a slot {slot_seconds:.0f} s on average -> {in_flight:,.0f} jobs in flight",
        f"  machines by slots ({workers_per_machine} workers x {slots_per_worker} slots): "
        f"{by_slots:.2f}",
        f"  machines by bandwidth ({bandwidth_bytes_s / MiB:g} MiB/s each): {by_bandwidth:.2f}",
        f"  machines by CPU ({costs.worker_cpu_s * 1000:.0f} ms per good job measured, "
        f"{cores_per_machine} cores): {by_cpu:.2f}",
        f"  => {machines} machine(s), each ~{memory:,.0f} MiB for its worker processes "
        f"(measured {costs.worker_rss / MiB:.0f} MiB peak per worker on the bench; more "
        f"torrents in flight add to it)",
        f"  the driver: {costs.driver_cpu_s * 1000:.1f} ms CPU per job measured -> "
        f"{driver_load:.0%} of one core (one SQLite store, one driver)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--dask", default="1,2,4", help="worker process counts")
    parser.add_argument("--slots", type=int, default=8, help="jobs in flight per worker")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--no-local", action="store_true", help="skip the local executor run")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, int(args.dask), args.slots, args.frames)
        return

    from torframes.testing import LocalSwarm, make_video

    folder = Path(tempfile.mkdtemp(prefix="bench-dask-seed-"))
    atexit.register(shutil.rmtree, folder, True)  # nothing left behind
    video = make_video(folder / "clip.mp4", frames=48, gop=12)
    data = video.read_bytes()
    runs: list[tuple[str, dict[str, Any]]] = []
    with LocalSwarm() as swarm:
        seeds = [swarm.seed({f"bench-dask-{i:05d}.mp4": data}, piece_size=16 * 1024)
                 for i in range(args.jobs)]  # fmt: skip
        sources = folder / "sources.txt"
        sources.write_text("\n".join(s.magnet for s in seeds) + "\n")
        configs = [] if args.no_local else [0]
        configs += [int(w) for w in args.dask.split(",") if w]
        for workers in configs:
            label = "local" if workers == 0 else f"dask {workers}"
            figures = run_child(sources, workers, args.slots, args.frames)
            runs.append((label, figures))
            print(f"  {label}: {figures['seconds']:.2f} s", flush=True)

    print()
    print(f"{args.jobs} jobs, {args.frames} frames each, {args.slots} jobs in flight per "
          f"worker, loopback, {os.cpu_count()} CPUs")  # fmt: skip
    header = f"{'executor':>9}  {'done':>5}  {'seconds':>8}  {'jobs/min':>9}  {'ratio':>6}  "
    header += f"{'peak RSS MiB per worker':>24}  {'driver MiB':>10}"
    print(header)
    base = None
    for label, figures in runs:
        done = figures["counts"].get("done", 0)
        per_minute = done / figures["seconds"] * 60
        base = base or per_minute
        workers = figures["workers"] or [figures["driver"]]
        rss = ", ".join(f"{w['rss'] / MiB:.0f}" for w in workers)
        driver = figures["driver"]["rss"] / MiB if figures["workers"] else float("nan")
        print(f"{label:>9}  {done:>5}  {figures['seconds']:>8.2f}  {per_minute:>9.0f}  "
              f"{per_minute / base:>6.2f}  {rss:>24}  {driver:>10.0f}")  # fmt: skip
    dask_runs = [figures for label, figures in runs if figures["workers"]]
    if dask_runs:
        figures = dask_runs[-1]
        done = max(1, figures["counts"].get("done", 0))
        costs = Costs(
            worker_cpu_s=sum(w["cpu"] for w in figures["workers"]) / done,
            driver_cpu_s=figures["driver_cpu"] / done,
            worker_rss=max(w["rss"] for w in figures["workers"]),
        )
        print()
        print(paper_estimate(costs))


if __name__ == "__main__":
    main()
