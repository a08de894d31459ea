"""Graceful shutdown: frames in flight finish, the rest stays queued in the store.

Shutdown is asked for from the event callback at the moment a job's first
frame is written, so that job's other frames are in flight. Jobs already in
a worker finish; jobs waiting for metadata or for a worker go back to the
store untouched. A deadline cuts a stalled job short: it goes back with its
resume data, and a new service finishes it without fetching a piece twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from torframes.service import JobEvent, JobStore, ScreenshotService

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024


async def test_shutdown_lets_frames_in_flight_finish(
    swarm, long_clip: Path, tmp_path: Path, settings_for
) -> None:
    data = long_clip.read_bytes()
    seeds = [swarm.seed({f"stop-{i}.mp4": data}, piece_size=PIECE) for i in range(8)]
    events: list[JobEvent] = []
    stopping: list[asyncio.Task[None]] = []
    in_work: set[int] = set()

    def on_event(event: JobEvent) -> None:
        events.append(event)
        if event.kind == "index":
            in_work.add(event.job)
        if event.kind == "frame" and not stopping:
            stopping.append(asyncio.ensure_future(service.shutdown(deadline=20)))

    settings = settings_for(service_metadata_concurrency=2)
    store = JobStore(tmp_path / "jobs.sqlite")
    service = ScreenshotService(
        settings, workers=2, store=store, output=tmp_path, n=4, on_event=on_event
    )
    async with service:
        results = await service.run([s.magnet for s in seeds])
    assert stopping
    assert service.state == "stopped"
    at_stop = next(i for i, e in enumerate(events) if e.kind == "frame")
    first = events[at_stop].job

    done = set(results.index[results["status"] == "done"])
    queued = set(results.index[results["status"] == "queued"])
    assert done | queued == set(results.index)  # nothing left running, nothing failed
    assert first in done
    assert done == in_work  # whoever had reached a worker finished
    assert queued  # and the others were left for later
    frames_after = [e for e in events[at_stop + 1 :] if e.kind == "frame" and e.job == first]
    assert len(frames_after) == 3  # the frames in flight were written after the request
    for job in done:
        assert results.loc[job, "frames"] == 4
    for job in queued:
        row = store.job(job)
        assert row is not None
        assert row["lease_owner"] is None
        assert row["frames"] == 0
        outcomes = [a["outcome"] for a in store.attempts(job)]
        assert outcomes in ([], ["released"])
    store.close()


async def test_deadline_puts_a_stalled_job_back_with_its_resume_data(
    swarm, gate, gated_times, tmp_path: Path, settings_for
) -> None:
    gated = gate(swarm, "stalled.mp4")
    settings = settings_for(piece_timeout=60.0, service_frames_timeout=60.0)
    store_path = tmp_path / "jobs.sqlite"
    async with ScreenshotService(settings, workers=1, store=store_path, times=gated_times) as one:
        stream = one.events()
        job = await one.submit(gated.seed.magnet)
        async for event in stream:
            if event.kind == "frame":
                break  # frame 1 is in; frames 2 and 3 cannot come
        await one.shutdown(deadline=0.2)
        row = one.store.job(job)
        assert row is not None
        assert row["status"] == "queued"
        assert row["frames"] == 1
        assert [a["outcome"] for a in one.store.attempts(job)] == ["released"]
        fetched_before = row["bytes_fetched"]
        assert fetched_before == gated.uploaded() > 0

    await asyncio.to_thread(gated.open)
    async with ScreenshotService(settings, workers=1, store=store_path) as two:
        results = await two.run()
    row = results.loc[job]
    assert row["status"] == "done"
    assert row["frames"] == 3
    assert row["attempts"] == 2
    assert row["bytes_fetched"] == row["piece_floor"] == gated.uploaded()


async def test_shutdown_keeps_its_deadline_while_every_metadata_slot_waits(
    tmp_path: Path, settings_for, dead_magnet
) -> None:
    """Dead magnets fill the only metadata slot: shutdown cancels them instead of waiting.

    Their metadata timeout is an hour; the dispatcher is blocked on the slot
    they hold. Shutdown must put both jobs back without waiting for it.
    """
    settings = settings_for(service_metadata_concurrency=1, service_metadata_timeout=3600.0)
    store = JobStore(tmp_path / "jobs.sqlite")
    service = ScreenshotService(settings, workers=1, store=store, output=tmp_path, n=1)
    await service.start()
    try:
        stream = service.events()
        ids = await service.submit_many([dead_magnet("slot-a"), dead_magnet("slot-b")])
        async for event in stream:
            if event.kind == "metadata":
                break  # one job holds the slot; the dispatcher waits for it
        await asyncio.wait_for(service.shutdown(deadline=0.5), timeout=60)
        assert service.state == "stopped"
    finally:
        if service.state != "stopped":  # closing the client ends the metadata waits
            await service.client.close()
        await service.aclose()
    for job in ids:
        row = store.job(job)
        assert row is not None
        assert (row["status"], row["lease_owner"]) == ("queued", None)
    assert [a["outcome"] for a in store.attempts(ids[0])] == ["released"]
    assert store.attempts(ids[1]) == []
    store.close()
