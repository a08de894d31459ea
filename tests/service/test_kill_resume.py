"""SIGKILL mid-batch, then the same command again: every job done once, no piece fetched twice.

The batch runs as ``torframes batch`` in a child process: four good jobs,
then three whose seeds withhold their later frames (they stall in their
frames phase with nothing in transit: see ``Gate`` in ``conftest.py``),
then four more good jobs. With three workers and one metadata slot, jobs
reach the workers in order, so the child reaches a known state: four jobs
done, three jobs in their frames with a frame written, the rest waiting.
The child (``batch_child.py``, running the command) counts its own events
and kills itself with SIGKILL the moment it reaches that state. The test
opens the gates and runs the same command again, which must finish every
job: the four done are not touched, the others are done once, and each
seeder has sent exactly its job's piece floor over both runs.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024
CHILD = Path(__file__).with_name("batch_child.py")


def batch_command(when: str, signame: str, *arguments: str) -> list[str]:
    """``torframes batch ARGUMENTS`` in a child that signals itself once ``when`` holds."""
    return [sys.executable, str(CHILD), when, signame, "--", *arguments]


def read(store: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(store, timeout=10)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_kill_nine_then_resume(
    swarm, gate, gated_times, long_clip: Path, tmp_path: Path, loopback_env
) -> None:
    data = long_clip.read_bytes()
    first = [swarm.seed({f"kill-a{i}.mp4": data}, piece_size=PIECE) for i in range(4)]
    gates = [gate(swarm, f"kill-g{i}.mp4") for i in range(3)]
    last = [swarm.seed({f"kill-b{i}.mp4": data}, piece_size=PIECE) for i in range(4)]
    magnets = [s.magnet for s in first] + [g.seed.magnet for g in gates] + [s.magnet for s in last]
    sources = tmp_path / "sources.txt"
    sources.write_text("# kill and resume\n" + "\n".join(magnets) + "\n")
    batch = tmp_path / "batch"
    store = batch / "jobs.sqlite"
    arguments = [
        str(sources), "-o", str(batch),
        "--workers", "3", "--times", ",".join(map(str, gated_times)), "-q",
    ]  # fmt: skip
    env = {
        **os.environ,
        **loopback_env,
        "TORFRAMES_SERVICE_METADATA_CONCURRENCY": "1",
        "TORFRAMES_METADATA_TIMEOUT": "30",
        "TORFRAMES_SERVICE_METADATA_TIMEOUT": "30",
        "TORFRAMES_PIECE_TIMEOUT": "120",
        "TORFRAMES_SERVICE_FRAMES_TIMEOUT": "120",
    }

    # four jobs done and three stalled with a frame written: SIGKILL
    killed = subprocess.run(
        batch_command("done=4,stalled=3", "KILL", *arguments),
        env=env, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()

    before = dict(read(store, "SELECT source, status FROM jobs"))
    assert [before[m] for m in magnets[:4]] == ["done"] * 4
    assert [before[m] for m in magnets[4:7]] == ["running"] * 3
    done_first = read(store, "SELECT id, finished_at FROM jobs WHERE status = 'done'")
    assert not (batch / "results.csv").exists()
    for seed in first:  # nothing was in transit for them
        assert seed.uploaded() > 0
    for each in gates:
        each.open()

    again = subprocess.run(
        batch_command("never", "KILL", *arguments),
        env=env, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr.decode()

    results = pd.read_csv(batch / "results.csv", index_col="job")
    assert (results["status"] == "done").all()
    assert list(results["source"]) == magnets
    assert (results["frames"] == 3).all()
    # the jobs done before the kill were left alone
    assert read(store, "SELECT id, finished_at FROM jobs WHERE id IN (1, 2, 3, 4)") == done_first
    attempts = read(store, "SELECT job_id, number, outcome FROM attempts ORDER BY job_id, number")
    by_job: dict[int, list[str]] = {}
    for job, _, outcome in attempts:
        by_job.setdefault(job, []).append(outcome)
    for job in results.index:
        outcomes = by_job[job]
        assert outcomes.count("done") == 1  # done exactly once
        assert outcomes[-1] == "done"
        assert set(outcomes[:-1]) <= {"interrupted"}  # earlier attempts died with the child
        assert results.loc[job, "attempts"] == len(outcomes)
    for job in results.index[:4]:
        assert by_job[job] == ["done"]
    for job in results.index[4:7]:
        assert by_job[job] == ["interrupted", "done"]
    # no piece fetched twice: each seeder sent its job's piece floor, over both runs
    uploads = [s.uploaded() for s in first] + [g.uploaded() for g in gates]
    uploads += [s.uploaded() for s in last]
    assert uploads == list(results["piece_floor"])
    assert list(results["bytes_fetched"]) == list(results["piece_floor"])
    shots = read(store, "SELECT job_id, COUNT(*) FROM screenshots GROUP BY job_id")
    assert dict(shots) == dict.fromkeys(results.index, 3)


def test_sigterm_shuts_down_gracefully(
    swarm, gate, gated_times, long_clip: Path, tmp_path: Path, loopback_env
) -> None:
    """SIGTERM: the stalled job is cut short at the deadline and left queued; exit code 130."""
    good = swarm.seed({"term-good.mp4": long_clip.read_bytes()}, piece_size=PIECE)
    stalled = gate(swarm, "term-gated.mp4")
    sources = tmp_path / "sources.txt"
    sources.write_text(f"{good.magnet}\n{stalled.seed.magnet}\n")
    batch = tmp_path / "batch"
    store = batch / "jobs.sqlite"
    arguments = [
        str(sources), "-o", str(batch),
        "--workers", "2", "--times", ",".join(map(str, gated_times)), "--deadline", "0.5", "-q",
    ]  # fmt: skip
    env = {**os.environ, **loopback_env, "TORFRAMES_PIECE_TIMEOUT": "120"}
    # both run; once the good one is done and the gated one stalls: SIGTERM
    child = subprocess.run(
        batch_command("done=1,stalled=1", "TERM", *arguments),
        env=env, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    err = child.stderr
    assert child.returncode == 130, err.decode()
    results = pd.read_csv(batch / "results.csv", index_col="job")
    assert list(results["status"]) == ["done", "queued"]
    assert read(store, "SELECT outcome FROM attempts WHERE job_id = 2") == [("released",)]
    assert read(store, "SELECT lease_owner FROM jobs WHERE id = 2") == [(None,)]
