"""The piece map's pixels: fetched pieces coloured, untouched grey, index and keyframes marked."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from torframes.api.video import Video
from torframes.containers.base import ByteRange
from torframes.plan.pieces import pieces_for_ranges, pieces_for_rows
from torframes.widgets.piecemap import COLORS, PieceMapView, render_piece_map

from .conftest import until

pytestmark = pytest.mark.swarm


def fill(drawn: object, piece: int) -> tuple[int, int, int]:
    """The colour of a cell's top-left corner (clear of the keyframe dot)."""
    left, top, _, _ = drawn.box(piece)  # type: ignore[attr-defined]
    return drawn.image.getpixel((left + 1, top + 1))  # type: ignore[attr-defined]


def expected_fill(video: Video, piece: int) -> tuple[int, int, int]:
    held = video.torrent.held_pieces()
    index = pieces_for_ranges(video.geometry, video.index.index_ranges)
    if piece in index:
        return COLORS["index fetched"] if piece in held else COLORS["index"]
    return COLORS["fetched"] if piece in held else COLORS["untouched"]


async def test_after_opening_only_the_index_pieces_are_fetched(video: Video) -> None:
    drawn = render_piece_map(video)
    assert drawn.pieces == range(0, 65)
    assert drawn.fetched == video.torrent.held_pieces() == {0, 63, 64}
    for piece in drawn.pieces:
        assert fill(drawn, piece) == expected_fill(video, piece)
    assert fill(drawn, 0) == COLORS["index fetched"]
    assert fill(drawn, 10) == COLORS["untouched"]


async def test_fetched_frames_colour_their_pieces(video: Video) -> None:
    picks = video.select(5, "even")
    async for _row, _image in video.frames(picks):
        pass
    drawn = render_piece_map(video)
    fetched_cells = [p for p in drawn.pieces if fill(drawn, p) == COLORS["fetched"]]
    index = pieces_for_ranges(video.geometry, video.index.index_ranges)
    assert set(fetched_cells) == video.torrent.held_pieces() - index
    assert len(fetched_cells) == 5  # one piece per keyframe of the sample
    for piece in drawn.pieces:
        assert fill(drawn, piece) == expected_fill(video, piece)


async def test_keyframe_dots_and_wanted_outlines(video: Video) -> None:
    picks = video.select(3, "even")
    drawn = render_piece_map(video, picks)
    keyframe_pieces = set(video.keyframes["piece_first"].astype(int))
    assert drawn.keyframes == keyframe_pieces
    for piece in drawn.pieces:
        left, top, right, bottom = drawn.box(piece)
        centre = drawn.image.getpixel(((left + right) // 2, (top + bottom) // 2))
        assert (centre == COLORS["keyframe"]) == (piece in keyframe_pieces)
    wanted = pieces_for_rows(picks)  # a keyframe may straddle two pieces
    assert drawn.wanted == wanted
    for piece in wanted - video.torrent.held_pieces():
        left, top, _, _ = drawn.box(piece)
        assert drawn.image.getpixel((left, top)) == COLORS["wanted"]


async def test_video_piece_map_returns_the_picture(video: Video) -> None:
    image = video.piece_map(columns=13, cell=10)
    drawn = render_piece_map(video, columns=13, cell=10)
    assert isinstance(image, Image.Image)
    assert image.size == drawn.image.size
    assert image.tobytes() == drawn.image.tobytes()
    assert drawn.box(13) == (2, 14, 12, 24)  # second row, first column (2 px gaps)


async def test_view_refreshes(video: Video) -> None:
    view = PieceMapView(video)
    before = view.picture.value
    assert view.caption.value == (
        "<small>3 of 65 pieces fetched (148,248 of 4,211,480 bytes, 3.5%)</small>"
    )
    await video.frame(video.select(1, "even").iloc[0])
    view.refresh()
    assert view.picture.value != before
    assert view.caption.value.startswith("<small>4 of 65 pieces fetched")
    picture = Image.open(io.BytesIO(view.picture.value)).convert("RGB")
    assert picture.size == view.map.image.size
    assert repr(view) == "PieceMapView('sample.mp4', 65 pieces)"


async def test_piece_map_of_a_file_inside_a_bigger_torrent(video: Video) -> None:
    """Only the file's own pieces are drawn (here, all of the single-file torrent's)."""
    whole = video.geometry.pieces(ByteRange(0, video.geometry.file_size))
    assert render_piece_map(video).pieces == whole


async def test_view_follows_pieces_fetched_by_other_code(video: Video) -> None:
    """No refresh() call: the view redraws as pieces arrive, whoever fetched them."""
    view = PieceMapView(video)
    assert view.caption.value.startswith("<small>3 of 65 pieces fetched")
    await video.frame(video.select(1, "even").iloc[0])  # not through the view
    await until(view.caption, lambda: view.caption.value.startswith("<small>4 of 65 pieces"))
    picture = Image.open(io.BytesIO(view.picture.value)).convert("RGB")
    assert picture.tobytes() == render_piece_map(video).image.tobytes()


async def test_a_closed_view_stops_following(video: Video) -> None:
    view = PieceMapView(video)
    assert len(video.torrent._piece_listeners) == 1
    view.close()
    assert video.torrent._piece_listeners == []
