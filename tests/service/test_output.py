"""Outputs anywhere: a local folder or an fsspec URL; results also as a Parquet dataset.

Sinks write each file whole or not at all (a failed write leaves nothing),
whatever the kind: local folder, ``file://``, an object store (``memory://``)
or another fsspec file system (``local://``: a temporary name, then a
move). A batch writing to ``memory://`` keeps its store and pieces in its
local work folder; its screenshots show the frames asked for (read back
through fsspec), its keyframe tables hold PyAV's keyframes, its Parquet
dataset reads back equal to the results table, and the seeder sent each
good torrent its piece floor, once, however often the batch is run.
"""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from PIL import Image

from torframes.cli.main import main
from torframes.service import ScreenshotService
from torframes.service.output import FsspecSink, OutputSink
from torframes.service.results import RESULT_DTYPES, results_frame, write_results
from torframes.service.sync import run_batch
from torframes.testing import read_frame_index
from torframes.testing.oracle import keyframe_packets

PIECE = 16 * 1024
FPS = 24


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A fresh ``memory://`` folder, removed after the test."""
    name = f"torframes-test-{uuid.uuid4().hex[:12]}"
    yield f"memory://{name}"
    memory = fsspec.filesystem("memory")
    if memory.exists(f"/{name}"):
        memory.rm(f"/{name}", recursive=True)


def read(url: str) -> bytes:
    with fsspec.open(url, "rb") as stream:
        return stream.read()


@pytest.mark.parametrize("kind", ["local", "file", "memory", "local-url"])
def test_a_sink_writes_whole_files_or_nothing(kind: str, tmp_path: Path, memory_url: str) -> None:
    location = {
        "local": str(tmp_path / "out"),
        "file": f"file://{tmp_path / 'out'}",
        "memory": memory_url,
        "local-url": f"local://{tmp_path / 'out'}",
    }[kind]
    sink = OutputSink.open(location)
    assert isinstance(sink, FsspecSink) == (kind in ("memory", "local-url"))
    sink.ensure()
    path = sink.write_bytes("a.bin", b"whole")
    assert sink.read_bytes(path) == b"whole"
    assert read(path if "://" in path else f"file://{path}") == b"whole"
    assert sink.exists("a.bin")

    def dies() -> None:
        with sink.writing("b.bin") as stream:
            stream.write(b"half")
            raise RuntimeError("the writer died")

    with pytest.raises(RuntimeError):
        dies()
    assert not sink.exists("b.bin")
    assert sink.list() == ["a.bin"]
    if kind != "memory":  # nothing left on disk either, not even a temporary file
        assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.bin"]

    sink.write_bytes("a.bin", b"again")  # replaced whole
    assert sink.read_bytes(path) == b"again"
    sink.remove("a.bin")
    assert sink.list() == []


def test_an_unknown_protocol_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nosuch"):
        ScreenshotService(store=tmp_path / "jobs.sqlite", output="nosuch://shots")
    assert not (tmp_path / "jobs.sqlite").exists()


def test_results_dataset_in_chunks(tmp_path: Path, memory_url: str) -> None:
    rows = [
        {"id": i, "source": f"s{i}", "status": ["done", "failed", "queued"][i % 3],
         "attempts": 1, "bytes_fetched": i * 100, "elapsed_s": i / 4, "frames": i % 3}
        for i in range(1, 8)
    ]  # fmt: skip
    table = results_frame(rows)
    for location in (str(tmp_path / "out"), memory_url):
        sink = OutputSink.open(location)
        sink.ensure()
        written = write_results(table, sink, chunk=3)
        assert [w.rsplit("/", 1)[1] for w in written] == [
            "results.csv", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet",
        ]  # fmt: skip
        back = pd.read_parquet(f"{location}/results")
        pd.testing.assert_frame_equal(back, table)
        assert back.dtypes.to_dict() == RESULT_DTYPES

        write_results(table.iloc[:2], sink, chunk=3)  # fewer jobs: the stale parts go
        assert sink.child("results").list() == ["part-00000.parquet"]
        pd.testing.assert_frame_equal(pd.read_parquet(f"{location}/results"), table.iloc[:2])


@pytest.mark.swarm
async def test_batch_to_memory_url(
    swarm, clip: Path, tmp_path: Path, settings_for, memory_url: str
) -> None:
    data = clip.read_bytes()
    good = [swarm.seed({f"memory-{i}.mp4": data}, piece_size=PIECE) for i in range(2)]
    noise = swarm.seed({"memory-noise.mp4": random.Random(3).randbytes(30_000)}, piece_size=PIECE)
    sources = [s.magnet for s in good] + [noise.magnet]
    work = tmp_path / "work"

    async def batch() -> pd.DataFrame:
        return await run_batch(
            sources, memory_url, work=work, workers=2, settings=settings_for(),
            n=2, keyframes="parquet", sheet=True,
        )  # fmt: skip

    results = await batch()
    assert list(results["status"]) == ["done", "done", "failed"]
    assert {p.name for p in work.iterdir()} - {"jobs.sqlite-wal", "jobs.sqlite-shm"} == {
        "jobs.sqlite",
        "pieces",
    }

    # results: the CSV and the Parquet dataset hold the table
    pd.testing.assert_frame_equal(pd.read_parquet(f"{memory_url}/results"), results)
    csv = pd.read_csv(io.BytesIO(read(f"{memory_url}/results.csv")), index_col="job")
    assert list(csv["source"]) == sources
    assert list(csv["status"]) == list(results["status"])

    # screenshots, keyframe tables and sheets in memory, where the store says
    keyframe_times = sorted(round(float(t), 6) for t in keyframe_packets(clip)["time"])
    shots_url = f"{memory_url}/screenshots"
    names = fsspec.filesystem("memory").ls(shots_url, detail=False)
    for seed in good:
        table = pd.read_parquet(f"{shots_url}/{seed.infohash}-f0.keyframes.parquet")
        assert sorted(round(float(t), 6) for t in table["time"]) == keyframe_times
        assert any(n.endswith(f"{seed.infohash}-f0.sheet.jpg") for n in names)
        shots = [n for n in names if n.rsplit("/", 1)[1].startswith(seed.infohash)]
        assert len(shots) == 4  # two screenshots, a table, a sheet
    from torframes.service.store import JobStore

    store = JobStore(work / "jobs.sqlite")
    try:
        for job in results.index[:2]:
            paths = store.screenshots(int(job))
            assert len(paths) == 2
            for path in paths:
                assert path.startswith(f"{shots_url}/")
                with Image.open(io.BytesIO(read(path))) as image:
                    seconds = float(path.rsplit("-t", 1)[1].rsplit(".", 1)[0])
                    assert read_frame_index(image) == round(seconds * FPS)
    finally:
        store.close()

    # the seeder sent each good torrent its piece floor; run again: nothing more
    floors = [int(f) for f in results["piece_floor"].iloc[:2]]
    assert [s.wait_uploaded(f) for s, f in zip(good, floors, strict=True)] == floors
    assert list(results["bytes_fetched"].iloc[:2]) == floors
    again = await batch()
    pd.testing.assert_frame_equal(again, results)
    assert [s.uploaded() for s in good] == floors


@pytest.mark.swarm
def test_cli_batch_to_urls(
    swarm, clip: Path, tmp_path: Path, loopback_env, memory_url: str
) -> None:
    seed = swarm.seed({"cli-url.mp4": clip.read_bytes()}, piece_size=PIECE)
    sources = tmp_path / "sources.txt"
    sources.write_text(seed.magnet + "\n")
    arguments = ["batch", str(sources), "-n", "1", "-q"]

    # a URL needs a local folder for the store, and a protocol fsspec knows
    assert main([*arguments, "-o", memory_url]) == 2
    assert main([*arguments, "-o", "nosuch://x", "--work", str(tmp_path / "work")]) == 2
    assert not (tmp_path / "work").exists()
    assert not fsspec.filesystem("memory").exists(memory_url)

    assert main([*arguments, "-o", memory_url, "--work", str(tmp_path / "work")]) == 0
    results = pd.read_parquet(f"{memory_url}/results")
    assert list(results["status"]) == ["done"]
    assert (tmp_path / "work" / "jobs.sqlite").exists()

    # a file:// URL is a local folder: the store goes in it
    local = tmp_path / "local"
    assert main([*arguments, "-o", f"file://{local}"]) == 0
    assert {p.name for p in local.iterdir()} >= {
        "jobs.sqlite", "pieces", "results", "results.csv", "screenshots",
    }  # fmt: skip
    again = pd.read_parquet(local / "results")
    assert list(again["status"]) == ["done"]
    assert len(list((local / "screenshots").iterdir())) == 1
    floor = int(results["piece_floor"].iloc[0])
    assert int(again["piece_floor"].iloc[0]) == floor
    assert seed.wait_uploaded(2 * floor) == 2 * floor  # two stores, two folders of pieces
