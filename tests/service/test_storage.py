"""The disk budget: finished torrents' pieces are kept while there is room, oldest released first.

A budget of 0 releases each torrent's folder as its job ends; a budget of
about two torrents keeps the two most recently finished; a service started
later over the same store counts the folders already there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from torframes.service import JobEvent, ScreenshotService
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
