"""The batch service on a real Dask cluster: two worker processes on loopback, one LocalSwarm.

The oracle for every job is the local executor run over the same sources
in the same test, and the seeder's own upload counter for bytes. A worker
process killed with SIGKILL mid-batch and a driver killed with SIGKILL and
started again both end with every job in its right status, each job
recorded once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from torframes.service import RESULT_COLUMNS, RESULT_DTYPES, JobStore, ScreenshotService

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024
#: Seconds any wait on the cluster or a child process may take before the test fails.
DEADLINE = 120.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes, two task slots each, on 127.0.0.1 (no dashboard)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=2,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    ) as local:
        yield local


async def _until(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Wait (with a deadline) until ``check()`` (maybe a coroutine) gives something true."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < end, f"still waiting: {what}"
        await asyncio.sleep(0.05)


def _without_timing(results: pd.DataFrame) -> pd.DataFrame:
    return results.drop(columns=["elapsed_s"]).set_index("source").sort_index()


async def test_mixed_jobs_equal_the_local_executor_job_by_job(
    swarm, clip: Path, tmp_path: Path, settings_for, dead_magnet, truncated_mp4, cluster
) -> None:
    data = clip.read_bytes()
    good = [swarm.seed({f"dask-good-{i}.mp4": data}, piece_size=PIECE) for i in range(6)]
    noise = [
        swarm.seed({f"dask-noise-{i}.mp4": random.Random(i).randbytes(40_000)}, piece_size=PIECE)
        for i in range(2)
    ]
    cut = [swarm.seed({"dask-cut.mp4": truncated_mp4("dask")}, piece_size=PIECE)]
    no_video = [
        swarm.seed({f"dask-docs-{i}/readme.txt": b"text" * 3000}, piece_size=PIECE)
        for i in range(2)
    ]
    dead = [dead_magnet(f"dask-dead-{i}") for i in range(2)]
    sources = [s.magnet for s in good + noise + cut + no_video] + dead + ["no-such"]
    settings = settings_for(cache=False)

    async def run(**where: Any) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
        folder = tmp_path / ("dask" if "cluster" in where else "local")
        async with ScreenshotService(
            settings, store=folder / "jobs.sqlite", output=folder / "shots", n=3, **where
        ) as service:
            results = await service.run(sources)
            frames = await service.frames()
            attempts = service.store.attempts()
            return results, frames, (service.executor, attempts)

    on_dask, dask_frames, (executor, dask_attempts) = await run(cluster=cluster, workers=1)

    # the seeder sent each good torrent its piece floor, no byte more
    by_source = on_dask.set_index("source")
    for seed in good:
        floor = int(by_source.loc[seed.magnet, "piece_floor"])
        assert floor > 0
        assert by_source.loc[seed.magnet, "bytes_fetched"] == floor
        assert seed.wait_uploaded(floor) == floor
    # backpressure: never more jobs claimed than twice the cluster's four task slots
    assert executor.in_flight == 8
    assert executor.peak_in_flight == 8
    assert len(sources) > executor.in_flight

    local, local_frames, (_, local_attempts) = await run()

    # the same table, column for column and job by job (timings apart)
    assert tuple(on_dask.columns) == RESULT_COLUMNS
    assert on_dask.dtypes.to_dict() == RESULT_DTYPES
    pd.testing.assert_frame_equal(_without_timing(on_dask), _without_timing(local))
    assert set(on_dask["status"]) == {"done", "failed"}
    assert Counter(on_dask["error_kind"].dropna()) == Counter(local["error_kind"].dropna())
    assert (on_dask.set_index("source").loc[dead, "attempts"] == 2).all()  # retried once
    # the same frames, hashes and file names; the same images, byte for byte
    key = ["infohash", "file", "time"]
    dask_rows = dask_frames.drop(columns="job").sort_values(key).reset_index(drop=True)
    local_rows = local_frames.drop(columns="job").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(dask_rows, local_rows)
    assert len(dask_rows) == 3 * len(good)
    dask_shots = sorted((tmp_path / "dask" / "shots").iterdir())
    local_shots = sorted((tmp_path / "local" / "shots").iterdir())
    assert [p.name for p in dask_shots] == [p.name for p in local_shots]
    assert [p.read_bytes() for p in dask_shots] == [p.read_bytes() for p in local_shots]
    # attempts end the same way
    outcomes = Counter(a["outcome"] for a in dask_attempts)
    assert outcomes == Counter(a["outcome"] for a in local_attempts)
