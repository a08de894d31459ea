"""The batch service on a real Dask cluster: two worker processes on loopback, one LocalSwarm.

The oracle for every job is the local executor run over the same sources
in the same test, and the seeder's own upload counter for bytes. A worker
process killed with SIGKILL mid-batch and a driver killed with SIGKILL and
started again both end with every job in its right status, each job
recorded once; a task its driver gave up (killed, or shut down) is
cancelled on its worker. Workers write to ``file://`` and ``memory://``
URLs and keep their piece storage within its budget; a scheduler that is
not there is one line and an exit code.

The cluster's workers have two task slots each (``threads_per_worker``):
jobs are coroutine tasks on the worker's event loop, so a slot is a job in
flight, not a thread; two per worker show jobs sharing a session.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest
from PIL import Image

from torframes.service import RESULT_COLUMNS, RESULT_DTYPES, ScreenshotService
from torframes.testing import read_frame_index
from torframes.testing.oracle import keyframe_packets

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024
FPS = 24
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
        # the scheduler's HTTP routes (health...) on a free loopback port, not 8787
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
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
    good = [swarm.seed({f"dask-good-{i}.mp4": data}, piece_size=PIECE) for i in range(20)]
    noise = [
        swarm.seed({f"dask-noise-{i}.mp4": random.Random(i).randbytes(40_000)}, piece_size=PIECE)
        for i in range(6)
    ]
    cut = [swarm.seed({"dask-cut.mp4": truncated_mp4("dask")}, piece_size=PIECE)]
    no_video = [
        swarm.seed({f"dask-docs-{i}/readme.txt": b"text" * 3000}, piece_size=PIECE)
        for i in range(6)
    ]
    dead = [dead_magnet(f"dask-dead-{i}") for i in range(6)]
    sources = [s.magnet for s in good + noise + cut + no_video] + dead + ["no-such"]
    assert len(sources) == 40  # the 40 mixed jobs
    # Metadata within 3 s, not the fixture's 1 s: on a loaded machine (the whole suite)
    # a live magnet took longer, and a retry in one run only would differ between them.
    settings = settings_for(cache=False, service_metadata_timeout=3.0)

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


def _torrents_on_workers(dask_worker: Any) -> list[str]:
    """Infohashes in the torframes sessions of this worker (run on each worker)."""
    from torframes.service.dask_worker import TorframesPlugin

    found = []
    for plugin in dask_worker.plugins.values():
        if isinstance(plugin, TorframesPlugin) and plugin._client is not None:
            found += list(plugin._client.torrents)
    return found


async def test_a_worker_killed_mid_batch_leaves_every_job_in_its_right_status(
    swarm, long_clip: Path, tmp_path: Path, settings_for, dead_magnet, gate, gated_times, cluster
) -> None:
    from torframes.service.dask_executor import connect

    data = long_clip.read_bytes()
    gated = gate(swarm, "dask-gated.mp4")  # stalls after its first frame until opened
    good = [swarm.seed({f"dask-kill-{i}.mp4": data}, piece_size=PIECE) for i in range(3)]
    dead = dead_magnet("dask-kill-dead")
    sources = [gated.seed.magnet] + [s.magnet for s in good] + [dead]
    settings = settings_for(cache=False)
    watcher = await connect(cluster)
    try:
        async with ScreenshotService(
            settings, store=tmp_path / "jobs.sqlite", output=tmp_path / "shots",
            times=gated_times, cluster=cluster,
        ) as service:  # fmt: skip
            ids = await service.submit_many(sources)
            # the worker whose session holds the stalled torrent, once it has its first frame
            holders = await _until(
                lambda: _holders(watcher, gated.seed.infohash), "the gated job on a worker"
            )
            await _until(lambda: gated.uploaded() > 0, "the gated job's first pieces")
            await _until(lambda: _first_frame_taken(service, gated), "the gated job's 1st frame")
            pids = await watcher.run(os.getpid, workers=holders)
            os.kill(pids[holders[0]], signal.SIGKILL)
            gated.open()
            await service.join(ids)
            results = (await service.results(ids)).set_index("source")
            attempts = service.store.attempts()
    finally:
        await watcher.close()

    assert (results.loc[[s.magnet for s in good], "status"] == "done").all()
    assert (results.loc[[s.magnet for s in good], "frames"] == 3).all()
    row = results.loc[gated.seed.magnet]
    assert (row["status"], row["frames"], row["attempts"]) == ("done", 3, 1)  # Dask ran it again
    assert (results.loc[dead, "status"], results.loc[dead, "error_kind"]) == (
        "failed", "MetadataTimeout",
    )  # fmt: skip
    # the killed worker's pieces were lost with it: the seeder sent some twice
    assert row["bytes_fetched"] == row["piece_floor"]
    assert gated.uploaded() > row["piece_floor"]
    ended = Counter(a["job_id"] for a in attempts if a["outcome"] in ("done", "failed"))
    assert set(ended.values()) == {1}
    assert len(ended) == len(sources)


async def _holders(watcher: Any, infohash: str) -> list[str]:
    """Addresses of the workers whose torframes session holds ``infohash``."""
    held = await watcher.run(_torrents_on_workers)
    return [address for address, infohashes in held.items() if infohash in infohashes]


def _first_frame_taken(service: ScreenshotService, gated: Any) -> bool:
    """The gated job's first screenshot is written (it then waits for the withheld pieces)."""
    return _first_frame_taken_in(Path(service.output), gated)


def _read(store: Path, sql: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(store, timeout=10)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _done(store: Path) -> int:
    """Jobs recorded done in a store another process writes (0 before it made its tables)."""
    if not store.exists() or not _read(store, "SELECT 1 FROM sqlite_master WHERE name = 'jobs'"):
        return 0
    return int(_read(store, "SELECT COUNT(*) FROM jobs WHERE status = 'done'")[0][0])


async def test_driver_killed_then_started_again_resumes_from_the_store(
    swarm, long_clip: Path, tmp_path: Path, gate, gated_times, loopback_env, cluster
) -> None:
    from torframes.service.dask_executor import connect

    data = long_clip.read_bytes()
    good = [swarm.seed({f"dask-driver-{i}.mp4": data}, piece_size=PIECE) for i in range(3)]
    gated = gate(swarm, "dask-driver-gated.mp4")
    magnets = [s.magnet for s in good] + [gated.seed.magnet]
    sources = tmp_path / "sources.txt"
    sources.write_text("\n".join(magnets) + "\n")
    batch = tmp_path / "batch"
    store = batch / "jobs.sqlite"
    command = [
        sys.executable, "-m", "torframes", "batch", str(sources), "-o", str(batch),
        "--times", ",".join(map(str, gated_times)), "-q", "--scheduler", cluster.scheduler_address,
    ]  # fmt: skip
    env = {
        **os.environ,
        **loopback_env,
        "TORFRAMES_SERVICE_METADATA_TIMEOUT": "30",
        "TORFRAMES_PIECE_TIMEOUT": "120",
        "TORFRAMES_SERVICE_FRAMES_TIMEOUT": "120",
    }
    watcher = await connect(cluster)
    try:
        with (tmp_path / "driver.log").open("wb") as log:
            driver = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log)
        try:
            # the good jobs recorded done, the gated one stalled on a worker after a frame
            await _until(
                lambda: _done(store) == 3,
                "three jobs done",
            )
            await _until(lambda: _first_frame_taken_in(batch / "screenshots", gated), "a frame")
            assert driver.returncode is None
            driver.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(driver.wait(), DEADLINE) == -signal.SIGKILL
        finally:
            if driver.returncode is None:
                driver.kill()
                await driver.wait()
        done_first = _read(store, "SELECT id, finished_at FROM jobs WHERE status = 'done'")
        assert _read(store, "SELECT status FROM jobs WHERE id = 4") == [("running",)]
        # the dead driver's task is let go by the scheduler and cancelled on its worker
        await _until(
            lambda: _holders_none(watcher, gated.seed.infohash),
            "the orphan task cancelled",
            deadline=30.0,  # left to run, it would wait for its pieces for 120 s
        )
    finally:
        await watcher.close()
    gated.open()

    again = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, timeout=DEADLINE, check=False
    )
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    results = pd.read_csv(batch / "results.csv", index_col="job")
    assert list(results["source"]) == magnets
    assert (results["status"] == "done").all()
    assert (results["frames"] == 3).all()
    # the jobs done before the kill were not run again
    assert _read(store, "SELECT id, finished_at FROM jobs WHERE id IN (1, 2, 3)") == done_first
    attempts = _read(store, "SELECT job_id, outcome FROM attempts ORDER BY job_id, number")
    assert attempts == [(1, "done"), (2, "done"), (3, "done"), (4, "interrupted"), (4, "done")]
    for seed in good:
        floor = int(results.set_index("source").loc[seed.magnet, "piece_floor"])
        assert seed.wait_uploaded(floor) == floor
    shots = _read(store, "SELECT job_id, COUNT(*) FROM screenshots GROUP BY job_id")
    assert dict(shots) == dict.fromkeys(results.index, 3)


async def _holders_none(watcher: Any, infohash: str) -> bool:
    return not await _holders(watcher, infohash)


def _first_frame_taken_in(folder: Path, gated: Any) -> bool:
    return folder.is_dir() and any(p.name.startswith(gated.seed.infohash) for p in folder.iterdir())


async def _batch_to_url(
    swarm: Any, clip: Path, url: str, work: Path, settings: Any, cluster: Any, name: str
) -> None:
    """Two good jobs and a corrupt one to ``url`` on ``cluster``: files where the store says.

    The store records a ``file://`` output's files by their local paths.
    """
    from torframes.service.store import JobStore
    from torframes.service.sync import run_batch

    data = clip.read_bytes()
    good = [swarm.seed({f"{name}-{i}.mp4": data}, piece_size=PIECE) for i in range(2)]
    noise = swarm.seed({f"{name}-noise.mp4": random.Random(5).randbytes(30_000)}, piece_size=PIECE)
    sources = [s.magnet for s in good] + [noise.magnet]
    results = await run_batch(
        sources, url, work=work, settings=settings, cluster=cluster, n=2, keyframes="parquet"
    )
    assert list(results["status"]) == ["done", "done", "failed"]
    pd.testing.assert_frame_equal(pd.read_parquet(f"{url}/results"), results)
    store = JobStore(work / "jobs.sqlite")
    try:
        for job, seed in zip(results.index[:2], good, strict=True):
            paths = store.screenshots(int(job))
            assert len(paths) == 2
            for path in paths:
                shots = url.removeprefix("file://") + "/screenshots"
                assert path.startswith(f"{shots}/{seed.infohash}-f0-t")
                with fsspec.open(path, "rb") as stream, Image.open(stream) as image:
                    seconds = float(path.rsplit("-t", 1)[1].rsplit(".", 1)[0])
                    assert read_frame_index(image) == round(seconds * FPS)
            table = pd.read_parquet(f"{url}/screenshots/{seed.infohash}-f0.keyframes.parquet")
            assert len(table) == len(keyframe_packets(clip))
    finally:
        store.close()
    floors = [int(f) for f in results["piece_floor"].iloc[:2]]
    assert [s.wait_uploaded(f) for s, f in zip(good, floors, strict=True)] == floors


async def test_workers_write_to_a_file_url(
    swarm, clip: Path, tmp_path: Path, settings_for, cluster
) -> None:
    url = f"file://{tmp_path / 'out'}"
    await _batch_to_url(
        swarm, clip, url, tmp_path / "work", settings_for(cache=False), cluster, "dask-file"
    )


async def test_workers_write_to_a_memory_url(
    swarm, clip: Path, tmp_path: Path, settings_for
) -> None:
    """``memory://`` is per process: the workers here are threads of this process."""
    from distributed import LocalCluster

    url = f"memory://torframes-dask-{uuid.uuid4().hex[:12]}"
    async with LocalCluster(
        n_workers=1, processes=False, threads_per_worker=4, asynchronous=True,
        dashboard_address=None, worker_dashboard_address=None,  # inproc: no scheduler port
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # HTTP routes: a free port
    ) as local:  # fmt: skip
        try:
            await _batch_to_url(
                swarm, clip, url, tmp_path / "work", settings_for(cache=False), local, "dask-mem"
            )
        finally:
            memory = fsspec.filesystem("memory")
            if memory.exists(url.removeprefix("memory:/")):
                memory.rm(url.removeprefix("memory:/"), recursive=True)


async def test_shutdown_puts_jobs_in_flight_back_and_the_workers_let_them_go(
    swarm, tmp_path: Path, settings_for, gate, gated_times, cluster
) -> None:
    from torframes.service.dask_executor import connect

    gated = gate(swarm, "dask-shutdown-gated.mp4")  # never opened: the job stays in flight
    watcher = await connect(cluster)
    try:
        # left to run, the job would wait 120 s for its withheld pieces
        settings = settings_for(cache=False, piece_timeout=120.0, service_frames_timeout=120.0)
        service = ScreenshotService(
            settings, store=tmp_path / "jobs.sqlite",
            output=tmp_path / "shots", times=gated_times, cluster=cluster,
        )  # fmt: skip
        async with service:
            (job,) = await service.submit_many([gated.seed.magnet])
            await _until(lambda: _first_frame_taken(service, gated), "the gated job's 1st frame")
            await service.shutdown(deadline=0.0)
            assert service.executor.in_hand == 0
            row = service.store.job(job)
            assert row is not None
            assert (row["status"], row["lease_owner"]) == ("queued", None)
            assert [a["outcome"] for a in service.store.attempts(job)] == ["released"]
        # the task was cancelled on its worker, the torrent left its session
        await _until(
            lambda: _holders_none(watcher, gated.seed.infohash), "the task cancelled", 30.0
        )
    finally:
        await watcher.close()


def _storage_on_workers(dask_worker: Any) -> list[str]:
    """Torrent folders in the piece storage of this worker's torframes sessions."""
    from torframes.service.dask_worker import TorframesPlugin

    found = []
    for plugin in dask_worker.plugins.values():
        client = plugin._client if isinstance(plugin, TorframesPlugin) else None
        if client is not None and client.storage_dir is not None:
            found += [p.name for p in client.storage_dir.iterdir()]
    return found


async def test_a_workers_piece_storage_keeps_within_its_disk_budget(
    swarm, clip: Path, tmp_path: Path, settings_for, cluster
) -> None:
    """Budget 0: a finished torrent's folder is deleted as its job ends, on every worker."""
    from torframes.service.dask_executor import connect

    data = clip.read_bytes()
    good = [swarm.seed({f"dask-budget-{i}.mp4": data}, piece_size=PIECE) for i in range(3)]
    settings = settings_for(cache=False, service_disk_budget=0)
    watcher = await connect(cluster)
    try:
        async with ScreenshotService(
            settings, store=tmp_path / "jobs.sqlite", output=tmp_path / "shots", n=2,
            cluster=cluster,
        ) as service:  # fmt: skip
            results = await service.run([s.magnet for s in good])
            assert (results["status"] == "done").all()
            held = await watcher.run(_storage_on_workers)
    finally:
        await watcher.close()
    infohashes = {s.infohash for s in good}
    assert not infohashes & {name for names in held.values() for name in names}


@pytest.mark.parametrize(
    ("address", "code", "said"),
    [
        ("no-port-here", 2, "bad Dask scheduler address 'no-port-here'"),
        ("tcp://127.0.0.1:{port}", 3, "cannot reach the Dask scheduler at tcp://127.0.0.1:"),
    ],
)
async def test_a_scheduler_not_there_is_one_line_and_its_exit_code(
    address: str, code: int, said: str, tmp_path: Path, closed_port, loopback_env
) -> None:
    sources = tmp_path / "sources.txt"
    sources.write_text("0123456789abcdef0123456789abcdef01234567\n")
    command = [
        sys.executable, "-m", "torframes", "batch", str(sources), "-o", str(tmp_path / "out"),
        "-q", "--scheduler", address.format(port=closed_port()),
    ]  # fmt: skip
    # Dask's own setting for how long a connection may take
    env = {**os.environ, **loopback_env, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=DEADLINE
    )
    assert done.returncode == code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert said in lines[0]


async def test_workers_that_cannot_start_a_session_fail_the_start_and_leave_no_client(
    tmp_path: Path, settings_for, cluster
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the workers' piece storage should be")
    settings = settings_for(cache=False, storage_dir=blocker)
    clients = len(cluster.scheduler.clients)
    service = ScreenshotService(settings, store=tmp_path / "jobs.sqlite", cluster=cluster)
    with pytest.raises(OSError, match="not-a-folder"):
        await service.start()
    assert service.executor.dask_client is None
    await _until(lambda: len(cluster.scheduler.clients) == clients, "the client gone")
    await service.aclose()
