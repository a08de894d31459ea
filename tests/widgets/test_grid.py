"""ThumbnailGrid on a real video: placeholders at once, tiles filled, clicks, Stop, failures."""

from __future__ import annotations

import asyncio
import io

import pandas as pd
import pytest
from PIL import Image

from torframes.api.video import Video
from torframes.settings import Settings
from torframes.testing import read_frame_index
from torframes.torrent.client import Client
from torframes.widgets.grid import ThumbnailGrid
from torframes.widgets.images import encode, placeholder

pytestmark = pytest.mark.swarm

FPS = 24


def frame_number(row: pd.Series) -> int:
    return round(float(row["time"]) * FPS)


async def test_appears_at_once_with_placeholders_then_fills_in(video: Video) -> None:
    grid = video.grid(5)
    assert isinstance(grid, ThumbnailGrid)
    # Nothing was awaited yet: every tile is a placeholder and nothing is loaded.
    assert list(grid.table["status"]) == ["waiting"] * 5
    assert grid.images == {}
    assert grid.progress.value == 0
    assert grid.progress.max == 5
    assert {tile.image.value for tile in grid.tiles} == {placeholder((240, 135))}
    assert not grid.task.done()

    table = await grid.wait()
    assert list(table["status"]) == ["loaded"] * 5
    assert table["error"].isna().all()
    assert list(table.index) == list(video.select(5).index)
    assert grid.progress.value == 5
    assert grid.progress.bar_style == "success"
    assert grid.stop_button.disabled
    assert grid.done
    for (label, row), tile in zip(table.iterrows(), grid.tiles, strict=True):
        assert tile.image.value != placeholder((240, 135))
        assert tile.image.format == "jpeg"
        assert grid.images[label].size == (240, 135)
        assert read_frame_index(grid.images[label]) == frame_number(row)
    assert "5 of 5 shown" in grid.status.value


async def test_captions_give_time_sample_and_bytes(video: Video) -> None:
    rows = video.select(3, "even")
    grid = video.grid(rows, start=False)
    for (_, row), tile in zip(rows.iterrows(), grid.tiles, strict=True):
        caption = tile.button.description
        assert caption == (
            f"{row['time']:.2f} s · #{row['sample']} · {int(row['size']) / 1024:.1f} KiB"
        )
    assert grid.task is None
    assert list(grid.table["status"]) == ["waiting"] * 3


async def test_click_shows_the_frame_large_with_its_row(video: Video) -> None:
    grid = video.grid(4)
    await grid.wait()
    label = grid.rows.index[2]
    assert grid.detail.layout.display == "none"
    grid.tiles[2].button.click()  # what the front end's click does
    assert grid.selected == label
    assert grid.selected_row.equals(grid.rows.loc[label])
    assert grid.detail.layout.display == "flex"
    assert f"<td style='text-align:left'>{grid.rows.loc[label, 'sample']}</td>" in (
        grid.detail_table.value
    )
    await grid.detail_task
    large = Image.open(io.BytesIO(grid.detail_image.value))
    assert large.size == (640, 360)  # the picture's own size: never scaled up
    assert read_frame_index(large) == frame_number(grid.rows.loc[label])


async def test_click_before_the_frame_arrived_fetches_it(video: Video) -> None:
    grid = video.grid(3, start=False)
    label = grid.rows.index[0]
    grid.tiles[0].button.click()
    await grid.detail_task
    large = Image.open(io.BytesIO(grid.detail_image.value))
    assert read_frame_index(large) == frame_number(grid.rows.loc[label])


async def test_stop_cancels_what_has_not_arrived_and_start_resumes(video: Video) -> None:
    rows = video.select(strategy="all")
    grid = ThumbnailGrid(video, rows, max_side=96, start=False)
    stopped_after: list[int] = []

    def stop_after_first(_label: object, _image: object) -> None:
        if not stopped_after:
            stopped_after.append(len(grid.images))
            grid.stop_button.click()  # the Stop button

    grid.on_frame = stop_after_first
    assert grid.resume_button.disabled
    grid.start()
    table = await grid.wait()
    assert grid.task.cancelled()
    statuses = table["status"].value_counts().to_dict()
    assert statuses.get("waiting", 0) == 0
    assert statuses.get("stopped", 0) >= 1
    loaded = statuses.get("loaded", 0)
    assert 1 <= loaded < len(rows)
    # The bar counts the frames shown, not those given up: it does not fill on Stop.
    assert grid.progress.value == loaded
    assert grid.progress.bar_style == "warning"
    assert f"{loaded} of {len(rows)} shown" in grid.status.value
    assert "stopped" in grid.status.value
    assert grid.stop_button.disabled
    assert not grid.resume_button.disabled

    grid.on_frame = None
    grid.resume_button.click()  # the Resume button
    assert grid.resume_button.disabled
    table = await grid.wait()
    assert list(table["status"]) == ["loaded"] * len(rows)
    assert grid.progress.value == len(rows)
    assert grid.resume_button.disabled
    assert all(read_frame_index(grid.images[k]) == frame_number(r) for k, r in rows.iterrows())


async def test_stop_before_anything_ran(video: Video) -> None:
    grid = video.grid(5)
    grid.stop()
    table = await grid.wait()
    assert list(table["status"]) == ["stopped"] * 5
    assert grid.images == {}
    assert grid.progress.value == 0


async def test_a_stopped_tile_fills_in_once_its_large_frame_is_fetched(video: Video) -> None:
    grid = video.grid(3)
    grid.stop()
    await grid.wait()
    label = grid.rows.index[1]
    tile = grid.tiles[1]
    assert tile.image.value == placeholder((240, 135))
    grid.tiles[1].button.click()
    await grid.detail_task
    assert read_frame_index(Image.open(io.BytesIO(grid.detail_image.value))) == frame_number(
        grid.rows.loc[label]
    )
    assert list(grid.table["status"]) == ["stopped", "loaded", "stopped"]
    assert tile.image.value == encode(grid.images[label], "jpeg")
    assert read_frame_index(grid.images[label]) == frame_number(grid.rows.loc[label])
    assert grid.images[label].size == (240, 135)
    assert tile.button.button_style == ""
    assert grid.progress.value == 1
    assert "1 of 3 shown" in grid.status.value
    assert not grid.resume_button.disabled  # two are still stopped


async def test_a_failing_row_is_marked_and_the_others_load(video: Video) -> None:
    rows = video.select(3, "even").copy()
    broken = rows.index[1]
    rows.loc[broken, "offset"] = video.geometry.file_size + 100  # outside the file
    grid = video.grid(rows)
    table = await grid.wait()
    assert list(table["status"]) == ["loaded", "failed", "loaded"]
    assert table.loc[broken, "error"].startswith("ValueError: bytes")
    assert grid.tiles[1].button.button_style == "danger"
    assert grid.progress.bar_style == "danger"
    assert "1 failed (ValueError: bytes" in grid.status.value


async def test_a_closed_client_is_said_once_in_the_status_line(magnet: str) -> None:
    async with Client(Settings.loopback()) as client:
        video = await client.open(magnet)
        await client.close()  # what notebook 03's last cell used to do
        grid = video.grid(3)
        table = await grid.wait()
    assert list(table["status"]) == ["failed"] * 3
    assert "3 failed (ClientClosed: the client" in grid.status.value


async def test_text_repr_is_stable(video: Video) -> None:
    grid = video.grid(5, "even", start=False)
    bundle = grid._repr_mimebundle_()
    assert bundle["text/plain"] == "ThumbnailGrid(5 keyframes of 'sample.mp4')"
    assert repr(grid.tiles[0]).startswith("Tile(144, '6.00 s · #144")


async def test_the_kernel_is_free_while_frames_download(video: Video) -> None:
    """Other work on the loop runs between the grid's steps (no step blocks the loop).

    This coroutine waits for the grid's first frame and is resumed while the
    other frames are still on their way: the grid does not hold the loop.
    """
    grid = video.grid(strategy="all", rows=30, max_side=64, start=False)
    first_frame = asyncio.Event()
    grid.on_frame = lambda _label, _image: first_frame.set()
    grid.start()
    await asyncio.wait_for(first_frame.wait(), timeout=20)
    assert not grid.done
    assert 1 <= (grid.table["status"] == "loaded").sum() < len(grid.rows)
    table = await grid.wait()
    assert list(table["status"]) == ["loaded"] * len(grid.rows)
