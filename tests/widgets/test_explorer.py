"""KeyframeExplorer on a real video: controls change the selection; cheap against costly."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from torframes.api.video import Video
from torframes.plan.pieces import pieces_for_rows
from torframes.testing import read_frame_index
from torframes.widgets.explorer import CHEAP, COSTLY, KeyframeExplorer, timeline_strip
from torframes.widgets.piecemap import COLORS

from .conftest import until

pytestmark = pytest.mark.swarm


def held_all(video: Video, rows: object) -> bool:
    return pieces_for_rows(rows) <= video.torrent.held_pieces()  # type: ignore[arg-type]


async def test_starts_with_an_even_selection_over_the_whole_video(video: Video) -> None:
    explorer = video.explore(n=6)
    assert isinstance(explorer, KeyframeExplorer)
    assert explorer.range.value == (0.0, pytest.approx(60.041667))
    assert list(explorer.selected.index) == list(video.select(6).index)
    assert {"cheap", "new_pieces"} <= set(explorer.selected.columns)
    assert str(explorer.selected["new_pieces"].dtype) == "int64"
    assert repr(explorer) == "KeyframeExplorer(30 keyframes of 'sample.mp4')"


async def test_cheap_means_every_piece_is_held(video: Video) -> None:
    explorer = video.explore()
    table = explorer.keyframes
    held = video.torrent.held_pieces()
    for _, row in table.iterrows():
        pieces = set(range(int(row["piece_first"]), int(row["piece_last"]) + 1))
        assert row["cheap"] == (pieces <= held)
        assert row["new_pieces"] == len(pieces - held)
    # The index probe fetched piece 0, which holds the first keyframe.
    assert table.iloc[0]["cheap"]
    assert not table["cheap"].all()


async def test_range_count_and_strategy_change_the_selection(video: Video) -> None:
    explorer = video.explore(n=4)
    explorer.range.value = (10.0, 30.0)
    selected = explorer.selected
    assert len(selected) == 4
    assert selected["time"].between(10.0, 30.0).all()

    explorer.count.value = 2
    assert len(explorer.selected) == 2

    explorer.strategy.value = "all"
    assert list(explorer.selected["time"]) == [10.0 + 2 * i for i in range(11)]
    assert explorer.count.disabled
    assert "11 of 11 keyframes between 10.0 and 30.0" in explorer.summary.value

    explorer.range.value = (30.5, 31.5)  # no keyframe inside
    assert explorer.selected.empty
    assert explorer.summary.value.startswith("0 of 0 keyframes")


async def test_cheapest_prefers_keyframes_already_held(video: Video) -> None:
    grid = video.grid(video.select(times=[18.0, 42.0]))
    await grid.wait()
    explorer = video.explore(n=2, span=(12.0, 48.0))
    explorer.strategy.value = "cheapest"
    assert list(explorer.selected["time"]) == [18.0, 42.0]
    assert explorer.selected["cheap"].all()
    assert "needing 0 more pieces (0 bytes)" in explorer.summary.value


async def test_show_fetches_the_selection_and_the_views_follow(video: Video) -> None:
    explorer = video.explore(n=3, span=(20.0, 50.0))
    wanted = explorer.selected
    assert not wanted["cheap"].any()
    # The piece map outlines the pieces the selection still needs.
    drawn = explorer.piece_map.map
    piece = int(wanted.iloc[0]["piece_first"])
    left, top, _, _ = drawn.box(piece)
    picture = Image.open(io.BytesIO(explorer.piece_map.picture.value)).convert("RGB")
    assert picture.getpixel((left, top)) == COLORS["wanted"]

    explorer.show_button.click()
    grid = explorer.grid
    assert grid is not None
    assert explorer.grid_area.children == (grid,)
    table = await grid.wait()
    assert list(table["status"]) == ["loaded"] * 3
    for label, row in table.iterrows():
        assert read_frame_index(grid.images[label]) == round(float(row["time"]) * 24)
    assert held_all(video, wanted)
    assert explorer.selected["cheap"].all()  # refreshed as the frames arrived
    assert "needing 0 more pieces" in explorer.summary.value
    strip = Image.open(io.BytesIO(explorer.timeline.value)).convert("RGB")
    expected = timeline_strip(
        explorer.keyframes, end=explorer.end, span=(20.0, 50.0), picks=explorer.selected.index
    )
    assert strip.tobytes() == expected.tobytes()
    picture = Image.open(io.BytesIO(explorer.piece_map.picture.value)).convert("RGB")
    left, top, _, _ = explorer.piece_map.map.box(piece)
    assert picture.getpixel((left, top)) == COLORS["fetched"]


async def test_timeline_colours_cheap_and_costly(video: Video) -> None:
    explorer = video.explore(n=1)
    table = explorer.keyframes
    strip = timeline_strip(table, end=60.0, width=600 + 16, height=64)
    # x = 8 + 600 * t / 60: keyframes every 2 s sit 20 px apart; low ticks end at y = 45.
    for _, row in table.iterrows():
        x = 8 + round(600 * float(row["time"]) / 60.0)
        assert strip.getpixel((x, 40)) == (CHEAP if row["cheap"] else COSTLY)


async def test_cost_counts_distinct_pieces_not_held(video: Video) -> None:
    explorer = video.explore(n=4, span=(20.0, 50.0))
    assert list(explorer.selected["time"]) == [24.0, 32.0, 38.0, 46.0]
    held = video.torrent.held_pieces()
    needed = pieces_for_rows(explorer.selected) - held
    assert explorer.cost == {
        "selected": 4,
        "cheap": 0,
        "costly": 4,
        "new_pieces": len(needed),
        "new_bytes": len(needed) * 64 * 1024,
    }
    assert f"needing {len(needed)} more pieces ({len(needed) * 65536:,} bytes)" in (
        explorer.summary.value
    )


async def test_the_views_follow_pieces_fetched_elsewhere(video: Video) -> None:
    """Another grid fetches the selection: the summary, strip and piece map follow by themselves."""
    explorer = video.explore(n=3, span=(20.0, 50.0))
    wanted = explorer.selected
    assert not wanted["cheap"].any()
    before = explorer.piece_map.caption.value
    other = video.grid(wanted)  # not the explorer's own grid
    await other.wait()
    await until(explorer.summary, lambda: "needing 0 more pieces" in explorer.summary.value)
    assert explorer.selected["cheap"].all()
    held = len(video.torrent.held_pieces())
    assert explorer.piece_map.caption.value != before
    assert explorer.piece_map.caption.value.startswith(f"<small>{held} of 65 pieces fetched")
    strip = Image.open(io.BytesIO(explorer.timeline.value)).convert("RGB")
    expected = timeline_strip(
        explorer.keyframes, end=explorer.end, span=(20.0, 50.0), picks=explorer.selected.index
    )
    assert strip.tobytes() == expected.tobytes()


async def test_a_closed_explorer_stops_following_and_stops_its_grid(video: Video) -> None:
    explorer = video.explore(n=2)
    explorer.show_button.click()
    assert explorer.grid is not None
    assert len(video.torrent._piece_listeners) == 1  # the explorer's (its map does not follow)
    explorer.close()
    assert video.torrent._piece_listeners == []
    table = await explorer.grid.wait()
    assert "waiting" not in set(table["status"])
