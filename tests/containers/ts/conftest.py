"""Fixtures for the transport stream parser's tests: files from FFmpeg's mpegts muxer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import pytest

from torframes.containers.base import SAMPLE_DTYPES, TRACK_DTYPES, IndexLimits
from torframes.containers.local import LocalIndex, index_file
from torframes.testing.oracle import demux_packets
from torframes.testing.ts import clear_random_access, make_ts, make_ts_gstreamer

WRAP = 1 << 33

#: Fixture name -> ``make_ts`` arguments (``"no_rai"``: the random_access_indicator cleared).
FILES: dict[str, dict[str, Any]] = {
    "h264-b2": {"codec": "h264", "bframes": 2, "audio": True},
    "h264-m2ts": {"codec": "h264", "m2ts": True},
    "hevc-b3-m2ts": {"codec": "hevc", "bframes": 3, "m2ts": True, "audio": True},
    "mpeg2-b2": {"codec": "mpeg2video", "bframes": 2, "audio": True},
    "h264-b2-no-rai": {"codec": "h264", "bframes": 2, "audio": True, "no_rai": True},
    "hevc-no-rai-m2ts": {"codec": "hevc", "bframes": 3, "m2ts": True, "no_rai": True},
    "mpeg2-no-rai": {"codec": "mpeg2video", "bframes": 2, "no_rai": True},
    # starts 3 s before the 33-bit PTS wrap: the wrap falls in the middle
    "h264-wrap": {"codec": "h264", "bframes": 2, "audio": True, "start": WRAP / 90_000 - 3.0},
    # muxed by GStreamer's mpegtsmux, not FFmpeg's (its PTS start at 3600 s)
    "gst-h264-b2": {"muxer": "gstreamer", "codec": "h264", "bframes": 2},
    "gst-hevc-m2ts": {"muxer": "gstreamer", "codec": "hevc", "bframes": 2, "m2ts": True},
}


@pytest.fixture(scope="session")
def ts_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``ts_file(name)``: the file ``name`` of :data:`FILES` (240 frames, 10 s), made once."""
    root = tmp_path_factory.mktemp("ts")

    def make(name: str) -> Path:
        spec = dict(FILES[name])
        path = root / (name + (".m2ts" if spec.get("m2ts") else ".ts"))
        if path.exists():
            return path
        no_rai = spec.pop("no_rai", False)
        target = root / f"{name}-source.ts" if no_rai else path
        make = make_ts_gstreamer if spec.pop("muxer", None) == "gstreamer" else make_ts
        make(target, frames=240, gop=24, noise=True, width=256, height=144, **spec)
        return clear_random_access(target, path) if no_rai else path

    return make


def index_ts(path: Path, searches: int, **options: Any) -> LocalIndex:
    """Index ``path`` through the sniffing parser, ``searches`` keyframe searches."""
    from torframes.containers.sniff import AutoIndexParser

    size = path.stat().st_size
    limits = IndexLimits(max_cluster_probes=searches)
    parser = AutoIndexParser(size, limits, options={"mpegts": options})
    return index_file(path, parser=parser)


def languages(path: Path) -> list[str]:
    """The language FFmpeg reads for each stream (from the PMT's descriptors), or ""."""
    with av.open(str(path)) as container:
        return [stream.metadata.get("language", "") for stream in container.streams]


def oracle(path: Path) -> tuple[pd.DataFrame, int, int]:
    """FFmpeg's video keyframe packets, the stream's start_time and duration (90 kHz)."""
    packets = demux_packets(path)
    video = packets[(packets["kind"] == "video") & packets["is_keyframe"]]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start, duration = int(stream.start_time), int(stream.duration)
    return video.reset_index(drop=True), start, duration


def check_against_oracle(
    path: Path, searches: int, *, exact: bool = True, **options: Any
) -> LocalIndex:
    """Each row is a keyframe FFmpeg demuxes there; each search found the last one by its time.

    ``exact=False`` skips the last check (searches that ran out of budget).
    """
    local = index_ts(path, searches, **options)
    index = local.index
    assert index.samples.dtypes.astype(str).to_dict() == SAMPLE_DTYPES
    assert index.tracks.dtypes.astype(str).to_dict() == TRACK_DTYPES
    keys, start, duration = oracle(path)
    by_pos = {int(o): int(p) % WRAP for o, p in zip(keys["offset"], keys["pts"], strict=True)}
    rows = index.samples
    assert rows["is_keyframe"].all()
    assert rows["sample"].isna().all()
    for offset, pts, time in zip(rows["offset"], rows["pts"], rows["time"], strict=True):
        assert by_pos[int(offset)] == int(pts) % WRAP
        ticks = (int(pts) - start + WRAP // 2) % WRAP - WRAP // 2  # FFmpeg's start is unwrapped
        assert time == pytest.approx(ticks / 90_000, abs=1e-9)
    main = index.tracks[index.tracks["indexed_by"] == "search"].iloc[0]
    assert main["duration"] == duration
    assert index.tracks["language"].fillna("").tolist() == languages(path)
    if not exact:
        return local
    times = ((keys["pts"] - start) / 90_000).to_numpy()
    seconds = duration / 90_000
    wanted = {0.0} | {
        float(times[times <= seconds * (2 * i + 1) / (2 * searches) + 1e-9].max())
        for i in range(searches)
    }
    assert set(np.round(rows["time"], 6)) == {round(t, 6) for t in wanted}
    return local
