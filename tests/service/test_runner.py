"""``run_job`` alone: one attempt on a real client and a loopback seeder, no service, no store.

The outcome is what a remote worker sends back, so it is checked against
oracles from elsewhere: PyAV's demux of the whole file for the keyframe
times, the pixels of each image written for which frame it is, and the
seeder's upload counter for the bytes. The hooks are called in the order
the local executor's crash safety rests on: resume data with the index and
with each frame, the end recorded while the torrent is still in the
session, and let go only after.
"""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image

from torframes import errors
from torframes.service import ScreenshotService
from torframes.service.frames_table import frames_table
from torframes.service.jobs import JobOptions, job_key, source_spec
from torframes.service.recording import record_outcome
from torframes.service.results import RESULT_COLUMNS, RESULT_DTYPES, results_frame
from torframes.service.runner import JobHooks, JobOutcome, JobSpec, run_job
from torframes.service.store import JobStore, new_owner
from torframes.testing import read_frame_index
from torframes.testing.oracle import keyframe_packets
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024
FPS = 24


def spec_for(source: Any, output: Path, job_id: int = 1, **fields: Any) -> JobSpec:
    options = fields.pop("options", JobOptions(n=3))
    return JobSpec(job_id, f"key-{job_id}", source_spec(source), options, str(output), **fields)


class Recorder(JobHooks):
    """Notes every hook call, and whether the torrent was in the session at the time."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.calls: list[tuple[str, Any]] = []
        self.infohash: str | None = None

    def in_session(self) -> bool:
        return self.infohash in self.client.torrents

    def event(self, kind: str, **fields: Any) -> None:
        self.calls.append(("event", kind))

    async def metadata(self, infohash: str, name: str) -> None:
        self.infohash = infohash
        self.calls.append(("metadata", name))

    async def ready(self) -> None:
        self.calls.append(("ready", None))

    async def progress(self, **values: Any) -> None:
        self.calls.append(("progress", (values["phase"], values.get("resume_data") is not None)))

    async def frame(self, row: dict[str, Any], **values: Any) -> None:
        assert Path(row["path"]).is_file()  # written before it is reported
        self.calls.append(("frame", (values["frames"], values["resume_data"] is not None)))

    async def ending(self, outcome: JobOutcome, error: BaseException | None) -> bool:
        self.calls.append(("ending", (outcome.status, self.in_session())))
        return True

    async def released(self, client: Client, torrent: Any, *, finished: bool) -> None:
        self.calls.append(("released", (finished, self.in_session())))

    async def ended(self, outcome: JobOutcome) -> None:
        self.calls.append(("ended", outcome.status))


async def test_one_good_job(swarm, clip: Path, tmp_path: Path, settings_for) -> None:
    seed = swarm.seed({"runner-good.mp4": clip.read_bytes()}, piece_size=PIECE)
    keyframe_times = {round(float(t), 6) for t in keyframe_packets(clip)["time"]}
    settings = settings_for(storage_dir=tmp_path / "pieces")
    spec = spec_for(seed.magnet, tmp_path / "shots", attempt=1)
    async with Client(settings) as client:
        hooks = Recorder(client)
        outcome = await run_job(client, pickle.loads(pickle.dumps(spec)), hooks=hooks)
        assert not client.torrents  # the torrent left the session

    outcome = pickle.loads(pickle.dumps(outcome))  # what a Dask worker sends back
    assert outcome.status == "done", outcome.error_text
    assert (outcome.job_id, outcome.error_kind, outcome.error_text) == (1, None, None)
    assert outcome.resume is None
    result = outcome.result
    assert result["infohash"] == seed.infohash
    assert result["name"] == "runner-good.mp4"
    assert result["file"] == "runner-good.mp4"
    assert (result["status"], result["attempts"], result["frames"]) == ("done", 1, 3)
    # every byte the seeder sent, and no more, was the job's piece floor
    assert (
        result["bytes_fetched"]
        == result["piece_floor"]
        == seed.wait_uploaded(result["piece_floor"])
    )
    row = results_frame([result])
    assert tuple(row.columns) == RESULT_COLUMNS
    assert row.dtypes.to_dict() == RESULT_DTYPES

    # the frames: keyframes by PyAV's demux, each image showing the frame of its time
    assert len(outcome.frames) == 3
    for frame in outcome.frames:
        assert round(frame["time"], 6) in keyframe_times
        with Image.open(frame["path"]) as image:
            assert read_frame_index(image) == round(frame["time"] * FPS)
        assert 0 <= frame["phash"] < 1 << 64
        assert 0 <= frame["dhash"] < 1 << 64
        assert isinstance(frame["blank"], bool)
    assert len({f["time"] for f in outcome.frames}) == 3

    # the hooks, in order: resume data with the index and with each frame; the end
    # recorded while the torrent is in the session, let go (finished) only after
    calls = [c for c in hooks.calls if c[0] != "event"]
    assert calls == [
        ("metadata", "runner-good.mp4"),
        ("ready", None),
        ("progress", ("index", False)),
        ("progress", ("frames", True)),
        ("frame", (1, True)),
        ("frame", (2, True)),
        ("frame", (3, True)),
        ("ending", ("done", True)),
        ("released", (True, False)),
        ("ended", "done"),
    ]
    events = [c[1] for c in hooks.calls if c[0] == "event"]
    assert events == ["metadata", "index", "frame", "frame", "frame"]


async def test_failures_end_in_their_status(
    swarm, clip: Path, tmp_path: Path, settings_for, dead_magnet, truncated_mp4
) -> None:
    """Retry classes decide: a dead magnet is retried while retries are left; a bad video fails."""
    cut = swarm.seed({"runner-cut.mp4": truncated_mp4("runner")}, piece_size=PIECE)
    dead = dead_magnet("runner-dead")
    settings = settings_for(service_metadata_timeout=0.5)

    class Broken(Recorder):
        async def released(self, client: Client, torrent: Any, *, finished: bool) -> None:
            await super().released(client, torrent, finished=finished)
            raise RuntimeError("the executor's bookkeeping broke")

    async with Client(settings) as client:
        hooks = Broken(client)
        retried, used_up, bad = await asyncio.gather(
            run_job(client, spec_for(dead, tmp_path, 1, retries=0, max_retries=1)),
            run_job(client, spec_for(dead, tmp_path, 2, retries=1, max_retries=1)),
            run_job(client, spec_for(cut.magnet, tmp_path, 3), hooks=hooks),
        )
    assert hooks.calls[-2:] == [("released", (True, False)), ("ended", "failed")]
    assert (retried.status, retried.error_kind) == ("retry", "MetadataTimeout")
    assert retried.result["status"] == "queued"
    assert (used_up.status, used_up.error_kind) == ("failed", "MetadataTimeout")
    assert bad.status == "failed"
    assert bad.error_kind is not None
    assert issubclass(getattr(errors, bad.error_kind), errors.ContainerError)
    assert bad.result["infohash"] == cut.infohash
    assert bad.frames == []
    assert not list(tmp_path.glob("*.jpg"))


async def test_cancelled_job_ends_before_the_cancellation(
    swarm, clip: Path, tmp_path: Path, settings_for
) -> None:
    """Cancelled while waiting for a worker: the end is recorded (released, with resume data)."""
    seed = swarm.seed({"runner-cancel.mp4": clip.read_bytes()}, piece_size=PIECE)
    settings = settings_for(storage_dir=tmp_path / "pieces")
    waiting = asyncio.Event()

    class Stuck(Recorder):
        async def ready(self) -> None:
            waiting.set()
            await asyncio.Event().wait()  # never a worker

    async with Client(settings) as client:
        hooks = Stuck(client)
        task = asyncio.ensure_future(run_job(client, spec_for(seed.magnet, tmp_path), hooks=hooks))
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client.torrents
        [(_, (status, in_session))] = [c for c in hooks.calls if c[0] == "ending"]
        assert (status, in_session) == ("released", False)  # put back: let go first
        assert hooks.calls[-1] == ("ended", "released")

        # nothing was lost: the same job runs to the end afterwards
        again = await run_job(client, spec_for(seed.magnet, tmp_path, attempt=2))
    assert again.status == "done"
    assert seed.wait_uploaded(again.result["piece_floor"]) == again.result["piece_floor"]


def test_outcome_store_values_keep_what_an_earlier_attempt_found() -> None:
    outcome = JobOutcome(
        1,
        "retry",
        "MetadataTimeout",
        "no metadata",
        {"infohash": None, "name": None, "bytes_fetched": 5, "elapsed_s": 1.0, "frames": 0,
         "piece_floor": 0, "resume_dir": "/pieces"},
        [],
        b"resume",
    )  # fmt: skip
    values = outcome.store_values()
    assert values == {
        "bytes_fetched": 5,
        "elapsed_s": 1.0,
        "frames": 0,
        "resume_data": b"resume",
        "resume_dir": "/pieces",
    }


async def test_an_outcome_recorded_at_once_matches_the_local_record(
    swarm, clip: Path, tmp_path: Path, settings_for
) -> None:
    """What a remote executor records (record_outcome) equals what the local executor records.

    Oracle: the local executor's store for the same torrent, run in this test
    (frames are the same pictures, so the same hashes); bytes from the seeder.
    """
    seed = swarm.seed({"runner-record.mp4": clip.read_bytes()}, piece_size=PIECE)
    async with ScreenshotService(
        settings_for(), workers=1, store=tmp_path / "local" / "jobs.sqlite", n=3
    ) as service:
        local = await service.run([seed.magnet])
        local_frames = await service.frames()

    store = JobStore(tmp_path / "remote" / "jobs.sqlite")
    try:
        options = JobOptions(n=3)
        source = source_spec(seed.magnet)
        [(job_id, _)] = store.add([(job_key(source, options), source, options, seed.infohash)])
        owner = new_owner()
        claimed = store.claim(owner, lease=60.0)
        assert claimed is not None
        spec = JobSpec.from_claim(claimed, output=str(tmp_path / "remote" / "shots"))
        async with Client(settings_for(storage_dir=tmp_path / "remote" / "pieces")) as client:
            outcome = await run_job(client, spec)  # no hooks: nothing recorded on the way
        assert store.screenshots(job_id) == []
        assert record_outcome(store, owner, spec, outcome)
        remote = results_frame(store.results([job_id]))
        remote_frames = frames_table(store)
        remote_shots = store.screenshots(job_id)
        assert not record_outcome(store, owner, spec, outcome)  # recorded once; the lease is gone
    finally:
        store.close()

    columns = [c for c in RESULT_COLUMNS if c != "elapsed_s"]
    pd.testing.assert_frame_equal(remote[columns], local[columns])
    assert remote["piece_floor"].iloc[0] == remote["bytes_fetched"].iloc[0]
    assert (
        seed.wait_uploaded(2 * outcome.result["piece_floor"]) == 2 * outcome.result["piece_floor"]
    )
    pd.testing.assert_frame_equal(remote_frames, local_frames)
    assert [Path(p).name for p in remote_shots] == [Path(p).name for p in local_shots(tmp_path)]


def local_shots(tmp_path: Path) -> list[Path]:
    """The local run's screenshots, in time order (their names end in the time)."""
    return sorted(
        (tmp_path / "local" / "screenshots").iterdir(),
        key=lambda p: float(p.stem.rsplit("-t", 1)[1]),
    )
