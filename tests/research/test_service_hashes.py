"""The batch service records each frame's hashes in its store; ``tf.match`` reads them."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

import torframes as tf
from torframes.research.batch import batch_sheets
from torframes.research.hashes import frame_hashes
from torframes.research.sheet import SheetLayout, sheet_layout
from torframes.service.frames_table import FRAME_COLUMNS, frames_table
from torframes.service.store import JobStore
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index

pytestmark = pytest.mark.swarm

FPS = 24


def oracle(path: Path) -> dict[int, tuple[int, int]]:
    """PyAV's decode of the complete file: frame number -> (phash, dhash) of keyframes."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        out = {}
        for frame in container.decode(stream):
            if frame.key_frame:
                facts = frame_hashes(frame.to_image())
                out[round(float(frame.pts * stream.time_base) * FPS)] = (facts.phash, facts.dhash)
        return out


def pictures(layout: SheetLayout, screenshot: str) -> list[tuple[int, int, int, int]]:
    """Where each picture of ``screenshot``'s size lies in its 160x120 tile: fitted, centred."""
    with Image.open(screenshot) as first:
        width, height = first.size
    scale = min(160 / width, 120 / height)
    w, h = round(width * scale), round(height * scale)
    left, top = (160 - w) // 2, (120 - h) // 2
    return [(x + left, y + top, x + left + w, y + top + h) for x, y, _, _ in layout.tiles]


async def test_batch_frames_carry_hashes_and_match(
    swarm: LocalSwarm, videos: Path, tmp_path: Path
) -> None:
    film = make_video(videos / "film.mp4", frames=96, gop=12)
    other = make_video(videos / "other.mp4", frames=96, gop=12, width=640, height=120)
    seeds = {
        "film16": swarm.seed(film, piece_size=16 * 1024),
        "film64": swarm.seed(film, piece_size=64 * 1024),
        "other": swarm.seed(other, piece_size=16 * 1024),
    }
    store = tmp_path / "jobs.sqlite"
    settings = Settings.loopback(metadata_timeout=10, piece_timeout=10)
    async with tf.ScreenshotService(
        settings, workers=2, store=store, output=tmp_path / "shots", n=4
    ) as service:
        results = await service.run([seed.magnet for seed in seeds.values()])
        frames = await service.frames()
        sheets = await batch_sheets(service, tmp_path / "sheets")
        shots = {job: await service.screenshots(job) for job in results.index}
    assert results["status"].tolist() == ["done"] * 3
    assert frames.dtypes.astype(str).to_dict() == FRAME_COLUMNS
    assert len(frames) == 12
    expected = {"film16": oracle(film), "film64": oracle(film), "other": oracle(other)}
    for what, seed in seeds.items():
        rows = frames[frames["infohash"] == seed.handle.info_hash().to_bytes().hex()]
        assert len(rows) == 4
        for row in rows.itertuples():
            number = round(row.time * FPS)
            assert (int(row.phash), int(row.dhash)) == expected[what][number]

    # The store keeps them: a fresh JobStore on the same file gives the same table.
    reopened = JobStore(store)
    try:
        again = frames_table(reopened)
    finally:
        reopened.close()
    assert again.equals(frames)

    groups = tf.match(frames, max_distance=10)
    film_hashes = {seeds["film16"].handle.info_hash().to_bytes().hex(),
                   seeds["film64"].handle.info_hash().to_bytes().hex()}  # fmt: skip
    assert set(groups["infohash"]) == film_hashes
    assert groups["score"].tolist() == [1.0, 1.0]

    # One contact sheet per job, its tiles the job's frames in time order.
    assert sorted(sheets) == sorted(results.index)
    layout = sheet_layout(4, 4, (160, 120))

    for job, sheet_path in sheets.items():
        assert sheet_path.name == f"{results.loc[job, 'infohash']}-job{job}.sheet.jpg"
        with Image.open(sheet_path) as sheet:
            assert sheet.size == layout.size
            boxes = pictures(layout, shots[job][0])
            shown = [read_frame_index(sheet.convert("RGB").crop(box)) for box in boxes]
        times = frames.loc[frames["job"] == job, "time"]
        assert shown == [round(t * FPS) for t in times]


async def test_the_batch_draws_a_sheet_per_job_when_asked(
    swarm: LocalSwarm, videos: Path, tmp_path: Path
) -> None:
    film = make_video(videos / "film.mp4", frames=96, gop=12)
    seed = swarm.seed(film, piece_size=16 * 1024)
    settings = Settings.loopback(metadata_timeout=10, piece_timeout=10)
    output = tmp_path / "shots"
    async with tf.ScreenshotService(
        settings, workers=1, store=tmp_path / "jobs.sqlite", output=output, n=4, sheet=True
    ) as service:
        results = await service.run([seed.magnet])
        shots = await service.screenshots(int(results.index[0]))
    assert results["status"].tolist() == ["done"]
    infohash = results["infohash"].iloc[0]
    sheet_path = output / f"{infohash}-f0.sheet.jpg"
    layout = sheet_layout(4, 4, (160, 120), header_lines=2)
    with Image.open(sheet_path) as sheet:
        assert sheet.size == layout.size
        boxes = pictures(layout, shots[0])
        shown = [read_frame_index(sheet.convert("RGB").crop(box)) for box in boxes]
    written = []
    for path in shots:
        with Image.open(path) as image:
            written.append(read_frame_index(image.convert("RGB")))
    assert len(written) == 4
    assert shown == written == sorted(written)
    assert sorted(p.name for p in output.iterdir() if p.name.endswith(".sheet.jpg")) == [
        sheet_path.name
    ]
