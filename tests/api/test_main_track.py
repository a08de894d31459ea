"""Which video track frames come from."""

from __future__ import annotations

import pandas as pd
import pytest

from torframes.api.video import _main_video_track
from torframes.errors import NoVideoFile


def tracks(*rows: tuple[int, str, str | None, int, int, int]) -> pd.DataFrame:
    columns = ["track_id", "kind", "codec_name", "width", "height", "samples"]
    table = pd.DataFrame(rows, columns=columns)
    table["codec_name"] = table["codec_name"].astype("string")
    return table


def test_the_moving_picture_beats_larger_cover_art() -> None:
    table = tracks((1, "video", "mjpeg", 1920, 1080, 1), (2, "video", "h264", 640, 360, 900))
    assert _main_video_track(table, infohash=None) == 2


def test_a_decodable_track_beats_an_unknown_one() -> None:
    table = tracks((1, "video", None, 1920, 1080, 900), (2, "video", "h264", 640, 360, 900))
    assert _main_video_track(table, infohash=None) == 2


def test_the_largest_picture_wins_then_the_most_samples() -> None:
    table = tracks(
        (1, "video", "h264", 640, 360, 900),
        (2, "video", "hevc", 1280, 720, 10),
        (3, "audio", "aac", None, None, 5000),
    )
    assert _main_video_track(table, infohash=None) == 2


def test_no_video_track() -> None:
    with pytest.raises(NoVideoFile, match="no video track"):
        _main_video_track(tracks((1, "audio", "aac", 0, 0, 10)), infohash="ab" * 20)
