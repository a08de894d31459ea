"""Contact sheets: the asked layout, and under each tile the time of the frame it shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from torframes.api.video import open_video
from torframes.research.sheet import (
    BACKGROUND,
    TEXT,
    SheetLayout,
    format_time,
    render_sheet,
    sheet_layout,
)
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import frame_pixels, make_video, read_frame_index
from torframes.torrent.client import Client

FPS = 24


def drawn_time(seconds: float, box: tuple[int, int, int, int], font_size: int) -> Image.Image:
    """What a label box shows for ``seconds``: the time in Pillow's built-in font."""
    label = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), BACKGROUND)
    font = ImageFont.load_default(size=font_size)
    ImageDraw.Draw(label).text((2, 1), format_time(seconds), fill=TEXT, font=font)
    return label


def check_tiles(sheet: Image.Image, layout: SheetLayout, expected: list[int]) -> None:
    """Each tile shows the expected frame, in order, labelled with that frame's time."""
    shown = [read_frame_index(sheet.crop(box)) for box in layout.tiles]
    assert shown == expected
    for number, box in zip(shown, layout.labels, strict=True):
        label = sheet.crop(box)
        assert label.tobytes() == drawn_time(number / FPS, box, layout.font_size).tobytes()


def test_format_time() -> None:
    assert format_time(0) == "0:00:00.00"
    assert format_time(83.5) == "0:01:23.50"
    assert format_time(3 * 3600 + 61.25) == "3:01:01.25"


@pytest.mark.parametrize(("count", "columns", "rows"), [(6, 4, 2), (16, 4, 4), (3, 5, 1)])
def test_layout(count: int, columns: int, rows: int) -> None:
    layout = sheet_layout(count, columns, (160, 120), header_lines=2, margin=8, font_size=14)
    shown = min(columns, count)
    assert layout.size == (8 + shown * (160 + 8), 8 + 2 * 18 + 8 + rows * (120 + 20 + 8))
    assert len(layout.tiles) == count
    lefts = sorted({box[0] for box in layout.tiles})
    tops = sorted({box[1] for box in layout.tiles})
    assert (len(lefts), len(tops)) == (shown, rows)
    for box in layout.tiles:
        assert (box[2] - box[0], box[3] - box[1]) == (160, 120)
        assert box[2] <= layout.size[0]
        assert box[3] <= layout.size[1]


def test_render_puts_frames_in_time_order_with_their_times() -> None:
    numbers = [60, 12, 36, 0, 84, 48]  # out of order on purpose
    tiles = [(n / FPS, Image.fromarray(frame_pixels(n, 320, 240, label=True))) for n in numbers]
    sheet, layout = render_sheet(tiles, columns=4, header=["name", "details"], tile_size=(160, 120))
    assert sheet.size == layout.size == sheet_layout(6, 4, (160, 120)).size
    check_tiles(sheet, layout, sorted(numbers))


@pytest.mark.swarm
async def test_video_sheet(swarm: LocalSwarm, client: Client, videos: Path) -> None:
    path = make_video(videos / "sheet.mp4", frames=192, gop=12, label=True)
    seed = swarm.seed(path, piece_size=16 * 1024)
    video = await open_video(client, seed.magnet)
    picks = video.select(8, "even")
    expected = [round(float(t) * FPS) for t in picks["time"]]
    sheet = await video.sheet(n=8, columns=4, max_side=160)
    layout = sheet_layout(8, 4, (160, 120))
    assert sheet.size == layout.size
    check_tiles(sheet, layout, expected)
    stats = video.stats
    assert stats.bytes_fetched == stats.piece_floor
    assert seed.wait_uploaded(stats.piece_floor, timeout=10) == stats.piece_floor
