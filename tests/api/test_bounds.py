"""Asking for more, less or other than a video holds: honest warnings and bounded work.

Over a real loopback swarm: picks that fall short of ``n`` or of the times
asked say so (:mod:`torframes.warnings`), times outside the video are clamped
with a warning and NaN/infinity are refused, and a frame whose group of
pictures is over the configured caps is refused before a byte is fetched.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

from torframes.api.video import open_video
from torframes.errors import DecodeError
from torframes.plan.times import BadTime
from torframes.settings import Settings
from torframes.testing.oracle import demux_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index
from torframes.torrent.client import Client
from torframes.warnings import FewerPicksWarning, TimeRangeWarning

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24


async def test_more_screenshots_than_keyframes_gives_each_once_and_warns(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "one.mp4", frames=24, gop=100)  # a single keyframe
    seed = swarm.seed(path, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    with pytest.warns(FewerPicksWarning, match="8 keyframes asked for, the video has 1") as w:
        picks = video.select(8)
    assert w[0].filename == __file__
    saved = await video.save(picks, tmp_path / "shots")
    assert len(saved) == 1
    assert [p.name for p in (tmp_path / "shots").iterdir()] == [Path(saved["path"][0]).name]


async def test_times_outside_the_video_are_clamped_with_a_warning(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "v.mp4", frames=48, gop=12)  # 2 s, keyframes every 0.5 s
    seed = swarm.seed(path, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    assert video.duration == pytest.approx(2.0)
    with pytest.warns() as caught:
        picks = video.select(times=[0, 0.6, 1.99, 4.0])
    assert picks["time"].tolist() == [0.0, 0.5, 1.5]
    assert {type(w.message) for w in caught} == {TimeRangeWarning, FewerPicksWarning}
    assert "4 s after the end (2 s): clamped to the last keyframe" in [
        str(w.message) for w in caught
    ]
    assert all(w.filename == __file__ for w in caught)
    with pytest.raises(BadTime):
        video.select(times=[1.0, math.nan])


async def test_frame_at_outside_the_video_warns_and_nan_is_refused(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "v.mp4", frames=48, gop=12)
    seed = swarm.seed(path, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_frame_index(await video.frame_at(1.0)) == 24
        assert read_frame_index(await video.frame_at(2.0)) == 47  # the end itself is inside
    with pytest.warns(TimeRangeWarning, match="1000 s after the end") as after:
        assert read_frame_index(await video.frame_at(1000)) == 47
    with pytest.warns(TimeRangeWarning, match="-1 s before the start") as before:
        assert read_frame_index(await video.frame_at(-1)) == 0
    assert after[0].filename == before[0].filename == __file__
    fetched = video.stats.bytes_fetched
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(BadTime, match="finite"):
            await video.frame_at(bad)
    assert video.stats.bytes_fetched == fetched


@pytest.mark.parametrize("cap", ["max_gop_samples", "max_gop_bytes"])
async def test_a_gop_over_the_cap_is_refused_before_fetching(
    swarm: LocalSwarm, tmp_path: Path, cap: str
) -> None:
    path = make_video(tmp_path / "v.mp4", frames=48, gop=24)
    seed = swarm.seed(path, piece_size=16 * KiB)
    # frame 5 decodes from packets 0..5 (no B-frames: decode order is display order)
    packets = demux_packets(path)
    gop = packets[packets["kind"] == "video"].sort_values("dts").iloc[:6]
    needed = {"max_gop_samples": len(gop), "max_gop_bytes": int(gop["size"].sum())}[cap]
    for limit, allowed in ((needed - 1, False), (needed, True)):
        settings = Settings.loopback(metadata_timeout=20, piece_timeout=20, **{cap: limit})
        async with Client(settings) as client:
            video = await open_video(client, seed.magnet)
            samples = video.samples[video.samples["track_id"] == video.main_track]
            row = samples.sort_values("dts").iloc[5]
            before = video.torrent.stats
            if allowed:
                assert read_frame_index(await video.frame(row)) == 5
                continue
            with pytest.raises(DecodeError, match=cap):
                await video.frame(row)
            after = video.torrent.stats
            assert (after.bytes_fetched, after.rounds) == (before.bytes_fetched, before.rounds)
