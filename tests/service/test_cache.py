"""The batch service keeps pieces in the persistent cache: a later batch fetches only new ones.

A batch over a torrent, then another batch (a new store, a new output
folder) over the same torrent with other picks: the seeder uploads exactly
the pieces of the new picks that the cache does not hold. What the cache
holds is not taken from the service: a fresh client checks the cached
files against their hashes (libtorrent's own check), and the seeder's
upload counter must equal that set's bytes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from torframes.cache import Cache
from torframes.service import JobEvent, ScreenshotService
from torframes.settings import Settings
from torframes.testing import LocalSwarm, read_frame_index
from torframes.testing.oracle import keyframe_packets
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024
FPS = 24  # the fixture videos' frame rate


def _settings(cache_dir: Path) -> Settings:
    return Settings.loopback(
        cache=True,
        cache_dir=cache_dir,
        metadata_timeout=10.0,
        piece_timeout=10.0,
        service_index_timeout=20.0,
        service_frames_timeout=20.0,
    )


def _pieces(keyframes: pd.DataFrame, times: list[float]) -> set[int]:
    """Pieces holding the keyframes at ``times``, from the table's piece_first/piece_last."""
    rows = keyframes[keyframes["time"].round(6).isin([round(t, 6) for t in times])]
    assert len(rows) == len(times), (times, keyframes["time"].tolist())
    pieces: set[int] = set()
    for first, last in zip(rows["piece_first"], rows["piece_last"], strict=True):
        pieces |= set(range(int(first), int(last) + 1))
    return pieces


async def _held_in_cache(settings: Settings, infohash: str) -> frozenset[int]:
    """The pieces libtorrent's hash check finds in the cache for ``infohash`` (no peer)."""
    async with Client(settings) as client:
        torrent = await client.add(infohash)
        await torrent.wait_checked()
        return torrent.held_pieces()


async def _batch(
    settings: Settings, folder: Path, source: str, **options: object
) -> tuple[pd.Series, list[float]]:
    """Run one job in a batch of its own in ``folder``: its results row and its frames' times."""
    async with ScreenshotService(settings, workers=1, store=folder / "jobs.sqlite") as service:
        results = await service.run([source], **options)
        [job] = results.index
        shots = service.store.screenshot_times(int(job))
    row = results.loc[job]
    assert row["status"] == "done", row.to_dict()
    assert len(shots) == row["frames"]
    for path, _ in shots:
        assert Path(path).is_file()
        assert Path(path).parent == folder / "screenshots"
    return row, [time for _, time in shots]


async def test_a_second_batch_fetches_only_the_pieces_the_cache_lacks(
    swarm: LocalSwarm, long_clip: Path, tmp_path: Path
) -> None:
    seed = swarm.seed({"batch-cache.mp4": long_clip.read_bytes()}, piece_size=PIECE)
    settings = _settings(tmp_path / "cache")

    first, picked = await _batch(
        settings, tmp_path / "one", seed.magnet, n=2, strategy="even", keyframes="parquet"
    )
    assert seed.wait_uploaded(first["bytes_fetched"]) == first["bytes_fetched"] > 0
    table_path = tmp_path / "one" / "screenshots" / f"{seed.infohash}-f0.keyframes.parquet"
    keyframes = pd.read_parquet(table_path)
    # its pieces agree with PyAV's demuxer of the whole file (which starts at byte 0)
    oracle = keyframe_packets(long_clip).sort_values("offset")
    table = keyframes.sort_values("offset")
    assert table["piece_first"].tolist() == (oracle["offset"] // PIECE).tolist()
    assert (
        table["piece_last"].tolist() == ((oracle["offset"] + oracle["size"] - 1) // PIECE).tolist()
    )

    held = await _held_in_cache(settings, seed.infohash)
    assert seed.uploaded() == seed.transfer_size(held)  # batch 1 sent exactly what is cached
    assert len(picked) == 2
    assert _pieces(keyframes, picked) <= held

    taken = {round(t, 6) for t in picked}
    others = [float(t) for t in keyframes["time"] if round(float(t), 6) not in taken]
    wanted = _pieces(keyframes, others)
    new = wanted - held
    assert new, "fixture: the second batch's picks all lie in pieces already cached"
    assert wanted & held, "fixture: the second batch's picks share no piece with the cache"
    before = seed.uploaded()

    second, _ = await _batch(settings, tmp_path / "two", seed.magnet, times=others)
    cost = seed.transfer_size(new)
    assert seed.wait_uploaded(before + cost) == before + cost
    assert second["bytes_fetched"] == cost
    assert second["frames"] == len(others)

    third, _ = await _batch(settings, tmp_path / "three", seed.magnet, times=others)
    assert third["bytes_fetched"] == 0
    assert third["frames"] == len(others)
    assert seed.uploaded() == before + cost


@pytest.mark.parametrize("corrupted", [False, True], ids=["kept", "corrupted"])
async def test_a_job_put_back_resumes_from_the_cache_checked_not_trusted(
    swarm: LocalSwarm, gate, gated_times, tmp_path: Path, corrupted: bool
) -> None:
    """Shut down mid-frames, started again: no piece twice; pieces spoiled meanwhile come again.

    The resume data recorded for the job counts pieces in the cache, which
    other processes share: its pieces are checked against their hashes when
    the job is added again, never taken on trust. Zeroed on disk, they are
    fetched again and every screenshot still shows its own frame.
    """
    gated = gate(swarm, f"cache-stalled-{corrupted}.mp4")
    settings = _settings(tmp_path / "cache").model_copy(
        update={"piece_timeout": 60.0, "service_frames_timeout": 60.0}
    )
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
        assert (row["status"], row["frames"]) == ("queued", 1)
        fetched_before = row["bytes_fetched"]
        assert fetched_before == gated.uploaded() > 0
    assert not (tmp_path / "pieces").exists()  # pieces went to the cache, not beside the store
    held = await _held_in_cache(settings, gated.seed.infohash)
    assert gated.seed.transfer_size(held) == fetched_before
    if corrupted:
        cache = Cache.from_settings(settings)
        assert cache is not None
        [stored] = cache.pieces_dir(gated.seed.infohash).iterdir()
        with stored.open("r+b") as handle:
            for piece in held:
                handle.seek(piece * PIECE)
                handle.write(bytes(gated.seed.transfer_size([piece])))

    await asyncio.to_thread(gated.open)
    async with ScreenshotService(settings, workers=1, store=store_path) as two:
        results = await two.run()
        shots = two.store.screenshot_times(job)
    row = results.loc[job]
    assert (row["status"], row["frames"], row["attempts"]) == ("done", 3, 2)
    assert row["bytes_fetched"] == gated.uploaded()
    if corrupted:
        assert row["bytes_fetched"] > row["piece_floor"]
    else:
        assert row["bytes_fetched"] == row["piece_floor"]
    assert [time for _, time in shots] == list(gated_times)
    for path, time in shots:
        with Image.open(path) as image:
            assert read_frame_index(image) == round(time * FPS)


async def test_the_cache_budget_is_kept_as_jobs_end(
    swarm: LocalSwarm, clip: Path, long_clip: Path, tmp_path: Path
) -> None:
    """Over ``cache_max_bytes``, a finished job's torrent is evicted when it ends, not at close."""
    seeds = [
        swarm.seed({"budget-a.mp4": clip.read_bytes()}, piece_size=PIECE),
        swarm.seed({"budget-b.mp4": long_clip.read_bytes()}, piece_size=PIECE),
    ]
    settings = _settings(tmp_path / "cache").model_copy(update={"cache_max_bytes": 1})
    cache = Cache.from_settings(settings)
    assert cache is not None
    cached_at_done: dict[str, list[str]] = {}

    def on_event(event: JobEvent) -> None:
        if event.kind == "done" and event.infohash is not None:
            cached_at_done[event.infohash] = cache.table()["infohash"].tolist()

    async with ScreenshotService(
        settings, workers=1, store=tmp_path / "jobs.sqlite", on_event=on_event, n=1
    ) as service:
        results = await service.run([seed.magnet for seed in seeds])
    assert results["status"].tolist() == ["done", "done"]
    assert (results["bytes_fetched"] > 0).all()
    # each job's torrent left the cache as the job ended (its entries beyond 1 byte)
    assert cached_at_done == {seed.infohash: [] for seed in seeds}


async def test_two_jobs_on_one_new_torrent_share_it_and_count_each_byte_once(
    swarm: LocalSwarm, long_clip: Path, tmp_path: Path
) -> None:
    """Metadata from the peer: the torrent is added again from the cached metadata, held by both."""
    seed = swarm.seed({"batch-cache-twice.mp4": long_clip.read_bytes()}, piece_size=PIECE)
    settings = _settings(tmp_path / "cache").model_copy(update={"service_max_retries": 0})
    async with ScreenshotService(settings, workers=2, store=tmp_path / "jobs.sqlite") as service:
        await service.submit(seed.magnet, n=2)
        await service.submit(seed.magnet, times=[1.0, 2.0])
        results = await service.run()
        assert not service.client.torrents  # both jobs let it go
    assert results["status"].tolist() == ["done", "done"]
    assert results["attempts"].tolist() == [1, 1]
    total = int(results["bytes_fetched"].sum())
    assert seed.wait_uploaded(total) == total
    held = await _held_in_cache(settings, seed.infohash)
    assert seed.transfer_size(held) == total
