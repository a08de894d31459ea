"""Retries: a seeder that shows up late, and a retry that goes on from the pieces fetched.

Retryable failures come back after their backoff. A retry starts from the
resume data saved when the last attempt ended, so the seeder never sends a
piece twice: what it uploaded in all equals the job's piece floor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from torframes.service import JobEvent, ScreenshotService
from torframes.testing import LocalSwarm

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024


async def test_late_seeder(swarm, clip: Path, tmp_path: Path, settings_for, closed_port) -> None:
    port = closed_port()
    data = clip.read_bytes()
    names = [f"late-{i}.mp4" for i in range(3)]
    # the torrents' infohashes, learnt from the module's seeder, then forgotten there
    hashes = []
    for name in names:
        seed = await swarm.aseed({name: data}, piece_size=PIECE)
        hashes.append(seed.infohash)
        await swarm.aremove(seed)
    late = [
        f"magnet:?xt=urn:btih:{h}&dn={n}&x.pe=127.0.0.1:{port}"
        for h, n in zip(hashes, names, strict=True)
    ]
    good = [await swarm.aseed({f"early-{i}.mp4": data}, piece_size=PIECE) for i in range(2)]

    settings = settings_for(
        service_metadata_timeout=0.5,
        service_max_retries=20,
        service_backoff=0.2,
        service_backoff_max=0.5,
    )
    events: list[JobEvent] = []
    async with ScreenshotService(settings, workers=2, output=tmp_path, n=2) as service:
        stream = service.events()
        late_ids = await service.submit_many(late)
        good_ids = await service.submit_many([s.magnet for s in good])
        retried: set[int] = set()
        async for event in stream:  # every late job has failed once: now the seeder comes
            events.append(event)
            if event.kind == "retry":
                retried.add(event.job)
            if retried >= set(late_ids):
                break
        async with LocalSwarm(port=port) as late_swarm:
            seeds = [await late_swarm.aseed({n: data}, piece_size=PIECE) for n in names]
            assert [s.infohash for s in seeds] == hashes
            results = await service.run(late)
            everything = await service.results()
            attempts = {job: service.store.attempts(job) for job in late_ids}
            uploaded = [s.uploaded() for s in seeds]

    assert (everything["status"] == "done").all()
    assert all(everything.loc[good_ids, "attempts"] == 1)
    for job, seed_upload in zip(late_ids, uploaded, strict=True):
        row = results.loc[job]
        assert row["attempts"] >= 2
        tries = attempts[job]
        assert [a["outcome"] for a in tries] == ["retry"] * (len(tries) - 1) + ["done"]
        assert {a["error_kind"] for a in tries[:-1]} == {"MetadataTimeout"}
        assert row["bytes_fetched"] == row["piece_floor"] == seed_upload
        assert row["frames"] == 2
        assert pd_na(row["error_kind"])  # a done job shows no error, whatever came before


def pd_na(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


async def test_retry_resumes_from_the_pieces_fetched(
    swarm, gate, gated_times, tmp_path: Path, settings_for
) -> None:
    """Frames time out (the seeder lacks their pieces); the retry fetches only what is missing."""
    gated = gate(swarm, "resume-retry.mp4")
    settings = settings_for(
        piece_timeout=1.0, service_max_retries=5, service_backoff=0.3, service_backoff_max=0.5
    )
    async with ScreenshotService(
        settings, workers=1, store=tmp_path / "jobs.sqlite", times=gated_times
    ) as service:
        stream = service.events()
        job = await service.submit(gated.seed.magnet)
        seen = []
        async for event in stream:
            seen.append(event.kind)
            if event.kind == "retry":
                assert event.error_kind == "PieceTimeout"
                break
        assert seen.count("frame") == 1  # the first frame was in, the others not
        resume = service.store.job(job)
        assert resume is not None
        assert resume["status"] == "queued"
        await asyncio.to_thread(gated.open)
        results = await service.run([gated.seed.magnet])
        paths = await service.screenshots(job)

    row = results.loc[job]
    assert row["status"] == "done"
    assert row["attempts"] >= 2
    assert row["frames"] == 3
    assert len(paths) == 3
    assert row["bytes_fetched"] == row["piece_floor"]
    assert gated.uploaded() == row["piece_floor"]
