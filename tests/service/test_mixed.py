"""Fifty mixed jobs on one loopback swarm: each ends in the status and error kind it should.

Good torrents are done with exactly their piece floor fetched (and uploaded
by the seeder); dead magnets fail with ``MetadataTimeout`` after their
retries; corrupt videos and torrents without a video fail at once with a
permanent error; an unexpected exception fails its job, not the service.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from torframes import errors
from torframes.service import RESULT_COLUMNS, RESULT_DTYPES, JobEvent, ScreenshotService
from torframes.testing import read_frame_index

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024
FPS = 24


async def test_fifty_mixed_jobs(
    swarm, clip: Path, tmp_path: Path, settings_for, dead_magnet, truncated_mp4
) -> None:
    data = clip.read_bytes()
    good = [swarm.seed({f"good-{i:02d}.mp4": data}, piece_size=PIECE) for i in range(30)]
    noise = [
        swarm.seed({f"noise-{i}.mp4": random.Random(i).randbytes(40_000)}, piece_size=PIECE)
        for i in range(4)
    ]
    cut = [swarm.seed({f"cut-{i}.mp4": truncated_mp4(str(i))}, piece_size=PIECE) for i in range(2)]
    no_video = [
        swarm.seed({f"docs-{i}/readme.txt": b"text" * 3000, f"docs-{i}/a.srt": b"1"},
                   piece_size=PIECE)
        for i in range(5)
    ]  # fmt: skip
    dead = [dead_magnet(f"dead-{i}") for i in range(7)]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")

    sources = (
        [s.magnet for s in good] + [s.magnet for s in noise + cut + no_video] + dead + ["no-such"]
    )
    expected_kind = {s.magnet: "done" for s in good}
    expected_kind.update({s.magnet: "container" for s in noise + cut})
    expected_kind.update({s.magnet: "NoVideoFile" for s in no_video})
    expected_kind.update(dict.fromkeys(dead, "MetadataTimeout"))
    expected_kind["no-such"] = "BadSource"
    assert len(sources) == 49

    events: list[JobEvent] = []
    settings = settings_for(service_metadata_concurrency=16)
    output = tmp_path / "shots"
    async with ScreenshotService(
        settings, workers=8, store=tmp_path / "jobs.sqlite", output=output, n=3,
        on_event=events.append,
    ) as service:  # fmt: skip
        broken = await service.submit(
            good[0].torrent_bytes, output=blocker, n=1, peers=[swarm.address]
        )
        results = await service.run(sources)
        await service.join([broken])
        everything = await service.results()
        shots = {job: await service.screenshots(job) for job in results.index}
        attempts = service.store.attempts()

    # the table: the columns, fixed dtypes, one row per job, CSV round trip
    assert tuple(results.columns) == RESULT_COLUMNS
    assert results.dtypes.to_dict() == RESULT_DTYPES
    assert len(results) == 49
    assert len(everything) == 50
    csv = tmp_path / "results.csv"
    results.to_csv(csv)
    assert len(pd.read_csv(csv, index_col="job")) == 49

    by_source = results.set_index("source")
    for source, expected in expected_kind.items():
        row = by_source.loc[source]
        if expected == "done":
            assert row["status"] == "done", row["error"]
            assert pd.isna(row["error_kind"])
            assert row["attempts"] == 1
            assert row["frames"] == 3
            assert row["piece_floor"] > 0
        elif expected == "container":
            assert row["status"] == "failed"
            assert issubclass(getattr(errors, row["error_kind"]), errors.ContainerError)
            assert row["attempts"] == 1  # permanent: not retried
        else:
            assert row["status"] == "failed"
            assert row["error_kind"] == expected
            retried = expected == "MetadataTimeout"
            assert row["attempts"] == (settings.service_max_retries + 1 if retried else 1)
            assert row["frames"] == 0
    no_video_row = by_source.loc[no_video[0].magnet]
    assert no_video_row["infohash"] == no_video[0].infohash
    assert "no video file" in no_video_row["error"]

    # the unexpected exception: its class name, one attempt, and the others went on
    row = everything.loc[broken]
    assert row["status"] == "failed"
    assert row["error_kind"] in ("FileExistsError", "NotADirectoryError")
    assert row["attempts"] == 1

    # the seeder sent each good torrent its piece floor, no byte more; the failed job on
    # good[0]'s torrent left its pieces in storage, and the magnet's job did not fetch them again
    for seed in good:
        floor = int(by_source.loc[seed.magnet, "piece_floor"])
        fetched = int(by_source.loc[seed.magnet, "bytes_fetched"])
        if seed is good[0]:
            assert 0 < row["bytes_fetched"] < floor
            fetched += int(row["bytes_fetched"])
        assert fetched == floor
        assert seed.wait_uploaded(floor) == floor

    # the screenshots are the frames asked for, written where the store says
    for job, paths in shots.items():
        if results.loc[job, "status"] == "done":
            assert len(paths) == 3
            for path in paths:
                image = Image.open(path)
                seconds = float(Path(path).stem.rsplit("-t", 1)[1])
                assert read_frame_index(image) == round(seconds * FPS)

    # events: one final event per job, frames counted 1..n, retries for the dead only
    finals = Counter(e.job for e in events if e.final)
    assert set(finals.values()) == {1}
    assert len(finals) == 50
    frames = defaultdict(list)
    for event in events:
        if event.kind == "frame":
            frames[event.job].append((event.frame, event.frames))
    for job in results.index[results["status"] == "done"]:
        assert frames[job] == [(1, 3), (2, 3), (3, 3)]
    retried = {e.job for e in events if e.kind == "retry"}
    assert retried == set(results.index[results["error_kind"] == "MetadataTimeout"])
    assert {e.kind for e in events} == {
        "queued", "metadata", "index", "frame", "retry", "done", "failed",
    }  # fmt: skip

    # attempts: every one ended, and each job ended once
    assert all(a["ended_at"] is not None for a in attempts)
    outcomes = Counter((a["job_id"], a["outcome"]) for a in attempts)
    assert all(count == 1 for (_, outcome), count in outcomes.items() if outcome != "retry")
