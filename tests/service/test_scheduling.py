"""Scheduling: a dead job never holds back the jobs behind it; retries wait without a worker.

No timings are asserted: the order of events says it. Dead magnets submitted
first, with a metadata timeout longer than the test, must not delay the good
jobs behind them: with one worker or two, every good job is done while the
dead ones are still waiting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from torframes.service import JobEvent, ScreenshotService

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024


@pytest.mark.parametrize("workers", [1, 2])
async def test_dead_job_first_delays_nobody(
    swarm, clip: Path, tmp_path: Path, settings_for, dead_magnet, workers: int
) -> None:
    data = clip.read_bytes()
    good = [swarm.seed({f"hol-{workers}-{i}.mp4": data}, piece_size=PIECE) for i in range(6)]
    dead = [dead_magnet(f"hol-dead-{workers}-{i}") for i in range(2)]
    events: list[JobEvent] = []
    # the dead jobs' metadata wait outlasts the whole test: they can only be overtaken
    settings = settings_for(service_metadata_timeout=300.0)
    async with ScreenshotService(
        settings, workers=workers, output=tmp_path, n=2, on_event=events.append
    ) as service:
        dead_jobs = await service.submit_many(dead)
        results = await service.run([s.magnet for s in good])
        waiting = await service.results(dead_jobs)
        assert (results["status"] == "done").all()
        assert (waiting["status"] == "running").all()  # still waiting for metadata
    # the dead jobs were claimed first, and every good job ended while they waited
    started = [e.job for e in events if e.kind == "metadata"]
    assert started[:2] == dead_jobs
    assert not [e for e in events if e.job in dead_jobs and e.final]
    assert {e.job for e in events if e.kind == "done"} == set(results.index)
    # shut down, they went back to the store as they were
    assert [e.kind for e in events if e.job == dead_jobs[0]] == ["queued", "metadata", "queued"]


async def test_retries_wait_outside_the_workers(
    swarm, clip: Path, tmp_path: Path, settings_for, dead_magnet
) -> None:
    """A job in backoff holds no worker: good jobs submitted meanwhile run at once."""
    settings = settings_for(
        service_metadata_timeout=0.5,
        service_max_retries=1,
        service_backoff=30.0,
        service_backoff_max=60.0,
    )
    data = clip.read_bytes()
    events: list[JobEvent] = []
    async with ScreenshotService(
        settings, workers=1, output=tmp_path, n=1, on_event=events.append
    ) as service:
        dead = await service.submit(dead_magnet("backoff"))
        stream = service.events()
        async for event in stream:  # wait until the dead job is in backoff
            if event.job == dead and event.kind == "retry":
                assert event.delay is not None
                assert event.delay > 20
                break
        good = [swarm.seed({f"backoff-{i}.mp4": data}, piece_size=PIECE) for i in range(3)]
        results = await service.run([s.magnet for s in good])
        assert (results["status"] == "done").all()
        row = (await service.results([dead])).iloc[0]
        assert row["status"] == "queued"  # still waiting out its backoff
        assert row["attempts"] == 1
        assert row["error_kind"] == "MetadataTimeout"
        await service.shutdown(deadline=1)
    kinds = [e.kind for e in events if e.job == dead]
    assert kinds == ["queued", "metadata", "retry"]
