"""Reprs of Video and Torrent, and the static pictures: stable, escaped, deterministic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from torframes.api.video import Video
from torframes.settings import Settings
from torframes.testing import LocalSwarm, make_video
from torframes.torrent.client import Client
from torframes.widgets import bar_chart, contact_sheet, interval_chart, keyframe_intervals

pytestmark = pytest.mark.swarm


async def test_video_html_is_stable_and_carries_no_ids(video: Video) -> None:
    first = video._repr_html_()
    assert first == video._repr_html_()
    assert not re.search(r"\bid=|uuid|<script", first)
    for text in (
        "sample.mp4",
        video.torrent.infohash,
        "640×360 h264",
        "30 keyframes",
        "<th>codec_name</th>",
        "4,211,480 B",
    ):
        assert text in first
    assert repr(video) == (
        f"<Video {video.torrent.infohash[:12]}… file 0 'sample.mp4': mp4, 2 tracks, 30 keyframes>"
    )


async def test_fetching_shows_in_the_reprs(video: Video) -> None:
    before = video._repr_html_()
    await video.frame(video.select(1, "even").iloc[0])
    after = video._repr_html_()
    assert before != after
    assert "1 frame decoded" in after
    assert "1 frames" not in after
    assert repr(video.torrent).endswith("'sample.mp4': 1 file, 65 pieces of 65536 B, 4 held>")
    assert "65 pieces of 65,536 B; 4 held" in video.torrent._repr_html_()


async def test_counts_of_one_are_singular_and_empty_fields_are_left_out(
    video: Video, magnet: str
) -> None:
    """A v1 torrent of one file: no "infohash v2" row, "1 file", "1 round" (not "1 files")."""
    async with Client(Settings.loopback()) as client:
        torrent = await client.add(magnet)
        await torrent.fetch([0])
        html = torrent._repr_html_()
        text = repr(torrent)
    assert torrent.infohash_v2 is None
    assert "infohash v2" not in html
    assert "<code></code>" not in html
    assert f"<code>{torrent.infohash_v1}</code>" in html
    assert "<summary>1 file</summary>" in html
    fetched = re.search(r"<td[^>]*>([\d,]+ B in [^<]*)</td>", html)
    assert fetched is not None, html
    assert fetched.group(1).endswith(" in 1 piece, 1 round"), fetched.group(1)
    assert not re.search(r"\b1 (files|rounds|pieces|keyframes|frames)\b", html)
    assert text.endswith("'sample.mp4': 1 file, 65 pieces of 65536 B, 1 held>")

    one_keyframe = video.grid(video.select(1, "even"), start=False)
    assert repr(one_keyframe) == "ThumbnailGrid(1 keyframe of 'sample.mp4')"
    assert "<b>1 keyframe</b>" in one_keyframe.title.value
    explorer = video.explore(n=1, span=(9.5, 10.5))
    assert explorer.summary.value.startswith("1 of 1 keyframe between 9.5 and 10.5")
    assert "needing 1 more piece (65,536 bytes)" in explorer.summary.value


async def test_names_are_escaped(swarm: LocalSwarm, tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mp4", frames=24, gop=12)
    seed = swarm.seed({"<b>bold</b> & co/clip.mp4": path, "<b>bold</b> & co/x.txt": b"hi"})
    async with Client(Settings.loopback()) as client:
        video = await client.open(seed.magnet)
        html = video._repr_html_() + video.torrent._repr_html_()
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html


async def test_torrent_html_before_metadata() -> None:
    async with Client(Settings.loopback()) as client:
        torrent = await client.add("magnet:?xt=urn:btih:" + "ab" * 20)
        html = torrent._repr_html_()
    assert "waiting for metadata" in html
    assert "ab" * 20 in html


def test_pictures_are_deterministic() -> None:
    import pandas as pd
    from PIL import Image

    keyframes = pd.DataFrame({"time": [0.0, 2.0, 4.0, 5.0, 9.0]})
    intervals = keyframe_intervals(keyframes, end=10.0)
    assert list(intervals["interval"]) == [2.0, 2.0, 1.0, 4.0, 1.0]
    assert keyframe_intervals(keyframes)["interval"].isna().sum() == 1
    one = interval_chart({"a": intervals, "b": intervals.assign(interval=1.0)})
    two = interval_chart({"a": intervals, "b": intervals.assign(interval=1.0)})
    assert one.tobytes() == two.tobytes()
    bars = bar_chart(pd.Series({"x": 3.0, "y": 1.5, "z": float("nan")}), title="t", unit=" MB")
    assert bars.size == (720, 24 + 3 * 24 + 6)
    red = Image.new("RGB", (64, 36), (255, 0, 0))
    sheet = contact_sheet([red, red, red], ["a", "b", "c"], columns=2, max_side=64)
    assert sheet.size == (2 * 64 + 3 * 6, 2 * (36 + 16) + 3 * 6)
    assert sheet.getpixel((6, 6)) == (255, 0, 0)
