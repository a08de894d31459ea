"""The disk budget: finished torrents' pieces are kept while there is room, oldest released first.

A budget of 0 releases each torrent's folder as its job ends; a budget of
about two torrents keeps the two most recently finished; a service started
later over the same store counts the folders already there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from torframes.service import JobEvent, JobStore, ScreenshotService
from torframes.service.storage import disk_usage

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024


def folders(pieces: Path) -> set[str]:
    return {p.name for p in pieces.iterdir()} if pieces.exists() else set()


async def test_budget_releases_finished_data_oldest_first(
    swarm, clip: Path, tmp_path: Path, settings_for
) -> None:
    data = clip.read_bytes()
    seeds = [swarm.seed({f"budget-{i}.mp4": data}, piece_size=PIECE) for i in range(4)]
    store = tmp_path / "kept" / "jobs.sqlite"
    pieces = store.parent / "pieces"

    # an unlimited-enough budget keeps every finished torrent's pieces
    async with ScreenshotService(
        settings_for(service_disk_budget=1 << 40), workers=1, store=store, n=1
    ) as service:
        await service.run([s.magnet for s in seeds[:1]])
    [first] = folders(pieces)
    one = disk_usage(pieces / first)
    assert one > 0

    # about two torrents' worth: the oldest finished go first
    order: list[str] = []

    def on_event(event: JobEvent) -> None:
        if event.kind == "done" and event.infohash:
            order.append(event.infohash)

    budget = int(2.5 * one)
    async with ScreenshotService(
        settings_for(service_disk_budget=budget), workers=1, store=store, n=1, on_event=on_event
    ) as service:
        results = await service.run([s.magnet for s in seeds])
    assert (results["status"] == "done").all()
    assert results.loc[results["source"] == seeds[0].magnet, "attempts"].item() == 1
    assert folders(pieces) == set(order[-2:])
    assert disk_usage(pieces) <= budget

    # a later service counts what is there, and a budget of 0 releases it all
    async with ScreenshotService(
        settings_for(service_disk_budget=0), workers=1, store=store
    ) as service:
        assert (await service.results())["status"].eq("done").all()
    assert folders(pieces) == set()


class WatchingStore(JobStore):
    """A job store that notes, as each job's end is recorded, whether its pieces are still there."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.pieces = path.parent / "pieces"
        self.at_finish: list[tuple[str, bool]] = []

    def finish(self, job_id: int, owner: str, attempt: int, **values: Any) -> bool:
        row = self.job(job_id)
        assert row is not None
        assert row["infohash"]
        folder = self.pieces / row["infohash"]
        self.at_finish.append((values["outcome"], folder.is_dir() and any(folder.iterdir())))
        return super().finish(job_id, owner, attempt, **values)


async def test_a_job_is_recorded_done_before_its_pieces_are_released(
    swarm, clip: Path, tmp_path: Path, settings_for
) -> None:
    """A crash between releasing a torrent and recording its job done would re-run it from nothing.

    With a budget of 0 a finished job's folder is deleted as its torrent
    leaves: when the store records the job done, the folder must still hold
    the pieces (a crash before that line finds them for the next attempt).
    """
    seed = swarm.seed({"record-first.mp4": clip.read_bytes()}, piece_size=PIECE)
    store = WatchingStore(tmp_path / "jobs.sqlite")
    async with ScreenshotService(
        settings_for(service_disk_budget=0), workers=1, store=store, n=1
    ) as service:
        results = await service.run([seed.magnet])
    assert list(results["status"]) == ["done"]
    assert store.at_finish == [("done", True)]
    assert folders(store.pieces) == set()  # and then released
    store.close()


async def test_a_finished_job_leaves_the_pieces_another_job_on_its_torrent_counts_on(
    swarm, gate, gated_times, tmp_path: Path, settings_for
) -> None:
    """Budget 0 deletes a finished torrent's folder, but not while a job waiting on it holds pieces.

    Job ``later`` (three frames) stalls and is put back at shutdown with
    resume data naming the pieces it holds. Job ``first`` (one frame, same
    torrent) then runs and finishes. The folder must stay for ``later``:
    over both jobs the seeder sends each piece once (``later``'s floor
    covers ``first``'s).
    """
    gated = gate(swarm, "shared-folder.mp4")
    settings = settings_for(service_disk_budget=0, piece_timeout=60.0)
    store = tmp_path / "jobs.sqlite"
    async with ScreenshotService(settings, workers=1, store=store) as one:
        stream = one.events()
        later = await one.submit(gated.seed.magnet, times=gated_times)
        first = await one.submit(gated.seed.magnet, times=gated_times[:1])
        async for event in stream:
            if event.kind == "frame":
                break  # later's frame 1 is in; its frames 2 and 3 cannot come yet
        await one.shutdown(deadline=0.2)
        row = one.store.job(later)
        assert row is not None
        assert (row["status"], row["frames"]) == ("queued", 1)
        assert one.store.attempts(first) == []

    await asyncio.to_thread(gated.open)
    order: list[int] = []
    async with ScreenshotService(
        settings, workers=1, store=store, on_event=lambda e: e.final and order.append(e.job)
    ) as two:
        results = await two.run()
    assert order == [first, later]
    assert list(results["status"]) == ["done", "done"]
    assert gated.uploaded() == results.loc[later, "piece_floor"]


async def test_a_service_starting_keeps_folders_that_waiting_jobs_count_on(
    tmp_path: Path, settings_for
) -> None:
    """Folders of done jobs are adopted for the budget, except where another job still waits."""
    from torframes.service.jobs import JobOptions, job_key, source_spec

    store = JobStore(tmp_path / "jobs.sqlite")
    pieces = tmp_path / "pieces"
    shared, alone = "ab" * 20, "cd" * 20
    rows = []
    for infohash, n in ((shared, 1), (shared, 2), (alone, 1)):
        options = JobOptions.make(n=n)
        spec = source_spec(f"magnet:?xt=urn:btih:{infohash}")
        rows.append((job_key(spec, options), spec, options, infohash))
    done, waiting, other = (job for job, _ in store.add(rows))
    for job, infohash, outcome in ((done, shared, "done"), (waiting, shared, "released")):
        claimed = store.claim("elsewhere|1|a", lease=60)
        assert claimed is not None
        assert claimed.id == job
        store.finish(job, "elsewhere|1|a", 1, outcome=outcome, infohash=infohash)
    claimed = store.claim("elsewhere|1|a", lease=60)
    assert claimed is not None
    assert claimed.id == other
    store.finish(other, "elsewhere|1|a", 1, outcome="done", infohash=alone)
    for infohash in (shared, alone):
        (pieces / infohash).mkdir(parents=True)
        (pieces / infohash / "data").write_bytes(b"x" * 4096)

    async with ScreenshotService(settings_for(service_disk_budget=0), store=store):
        pass
    assert folders(pieces) == {shared}  # the job still queued on it counts on its pieces
    store.close()
