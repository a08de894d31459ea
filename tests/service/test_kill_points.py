"""SIGKILL at chosen points of a batch, then the same command again.

The batch (six good videos, a dead magnet, a truncated video; three
workers, two metadata slots) runs in a child process that kills itself
with SIGKILL at a chosen point (see ``batch_child.py``): just after a
claim is committed, after an image is written but before the store records
it, at a frame event while other jobs have pieces in flight, or as a job
done is about to be recorded so (with a disk budget of 0, its pieces are
deleted once its torrent is released). The same command then runs to the
end.

The guarantee checked, with each seeder's upload counter as the oracle:
a piece held in the resume data the store recorded for a job is never
fetched again. Pieces fetched since that record (in flight at the kill, or
finished but not yet recorded) may be fetched once more, so for each
torrent ``uploads after the kill <= piece floor - recorded pieces``. A job
recorded done is never run again; every job ends once, in its right
status; every screenshot recorded is on disk, once, and nothing else is.
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


def read(store: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(store, timeout=10)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def held_pieces(resume_data: bytes | None) -> set[int]:
    """Pieces libtorrent's resume data says are held."""
    if resume_data is None:
        return set()
    import libtorrent

    params = libtorrent.read_resume_data(resume_data)
    return {i for i, have in enumerate(params.have_pieces) if have}


@pytest.mark.parametrize(
    "when",
    [
        pytest.param("claimed=4", id="mid-claim"),
        pytest.param("image=4", id="image-written-not-recorded"),
        pytest.param("frame=3", id="pieces-in-flight"),
        pytest.param("finishing=2", id="done-not-recorded"),
    ],
)
def test_kill_nine_at_a_point_then_resume(
    when: str, swarm, long_clip: Path, truncated_mp4, dead_magnet, tmp_path: Path, loopback_env
) -> None:
    data = long_clip.read_bytes()
    good = [swarm.seed({f"point-{when}-{i}.mp4": data}, piece_size=PIECE) for i in range(6)]
    bad = swarm.seed({f"point-{when}-bad.mp4": truncated_mp4("bad")}, piece_size=PIECE)
    dead = dead_magnet(f"point-{when}-dead")
    magnets = [s.magnet for s in good[:3]] + [dead, bad.magnet] + [s.magnet for s in good[3:]]
    sources = tmp_path / "sources.txt"
    sources.write_text("\n".join(magnets) + "\n")
    batch = tmp_path / "batch"
    store = batch / "jobs.sqlite"
    arguments = [str(sources), "-o", str(batch), "--workers", "3", "-n", "3", "-q"]
    env = {
        **os.environ,
        **loopback_env,
        "TORFRAMES_SERVICE_METADATA_CONCURRENCY": "2",
        "TORFRAMES_SERVICE_METADATA_TIMEOUT": "2",
        "TORFRAMES_SERVICE_MAX_RETRIES": "1",
        "TORFRAMES_SERVICE_BACKOFF": "0.1",
        "TORFRAMES_PIECE_TIMEOUT": "120",
        "TORFRAMES_SERVICE_FRAMES_TIMEOUT": "120",
        "TORFRAMES_SERVICE_DISK_BUDGET": "0",  # a finished job's pieces are deleted at once
    }

    def run(when: str) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, str(CHILD), when, "KILL", "--", *arguments]
        return subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)

    killed = run(when)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    at_kill = {
        source: (job, status, finished, resume)
        for job, source, status, finished, resume in read(
            store, "SELECT id, source, status, finished_at, resume_data FROM jobs"
        )
    }
    attempts_at_kill = read(store, "SELECT job_id, number, outcome FROM attempts")
    sent_at_kill = {s.magnet: s.uploaded() for s in good}

    again = run("never")
    assert again.returncode == 1, again.stderr.decode()  # the bad and the dead failed

    results = pd.read_csv(batch / "results.csv", index_col="job")
    by_source = results.set_index("source")
    assert list(results["source"]) == magnets
    for seed in good:
        assert by_source.loc[seed.magnet, "status"] == "done"
        assert by_source.loc[seed.magnet, "frames"] == 3
    assert by_source.loc[dead, "status"] == "failed"
    assert by_source.loc[dead, "error_kind"] == "MetadataTimeout"
    assert by_source.loc[bad.magnet, "status"] == "failed"

    # every job ended once; a job recorded done before the kill was not run again
    attempts = read(store, "SELECT job_id, number, outcome FROM attempts ORDER BY job_id, number")
    by_job: dict[int, list[str]] = {}
    for job, _, outcome in attempts:
        by_job.setdefault(job, []).append(outcome)
    for job in results.index:
        outcomes = by_job[job]
        assert outcomes[-1] in ("done", "failed")
        assert set(outcomes[:-1]) <= {"interrupted", "retry"}
        assert results.loc[job, "attempts"] == len(outcomes)
    for job, status, finished, _ in at_kill.values():
        if status == "done":
            assert by_job[job] == ["done"]
            assert read(store, f"SELECT finished_at FROM jobs WHERE id = {job}") == [(finished,)]
    assert {a for a in attempts_at_kill if a[2] is not None} <= set(attempts)

    # the screenshots recorded are on disk, once each, and nothing else is
    shots = read(store, "SELECT job_id, path FROM screenshots")
    assert len(shots) == len({path for _, path in shots}) == 3 * len(good)
    on_disk = {os.fspath(p) for p in (batch / "screenshots").iterdir()}
    assert on_disk == {path for _, path in shots}

    # no piece recorded before the kill was fetched again
    for seed in good:
        floor = int(by_source.loc[seed.magnet, "piece_floor"])
        sent = seed.uploaded()
        before = sent_at_kill[seed.magnet]
        job, status, _, resume = at_kill.get(seed.magnet, (None, "queued", None, None))
        recorded = seed.transfer_size(held_pieces(resume))
        assert sent >= floor
        assert recorded <= before
        if status == "done":
            assert sent == before == floor
        elif status == "queued":
            assert before == 0
            assert sent == floor
        else:
            assert sent - before <= floor - recorded, (seed.name, sent, before, floor, recorded)
