"""Fixtures for the AVI parser's tests: files from FFmpeg's AVI muxer, their OpenDML
rewrites, one from mencoder, and a driver that feeds a parser exactly what it asks for.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pandas as pd
import pytest

from torframes.containers import index_file
from torframes.containers.avi import AviIndexParser
from torframes.containers.base import (
    SAMPLE_DTYPES,
    TRACK_DTYPES,
    ContainerIndex,
    IndexLimits,
    Need,
)
from torframes.testing.avi import make_avi, rewrite_odml, set_idx1_absolute
from torframes.testing.oracle import demux_packets

#: Fixture name -> how it is made: ``make_avi`` arguments, then an optional rewrite.
FILES: dict[str, dict[str, Any]] = {
    "mpeg4": {"codec": "mpeg4"},
    "mpeg4-bframes": {"codec": "mpeg4", "bframes": 2},
    "h264": {"codec": "h264"},
    "mjpeg": {"codec": "mjpeg", "frames": 24},
    "mpeg4-pcm": {"codec": "mpeg4", "audio": True},
    "h264-pcm-absolute": {"codec": "h264", "audio": True, "rewrite": "absolute"},
    "mpeg4-odml": {"codec": "mpeg4", "rewrite": "odml"},
    "h264-pcm-odml-avix": {"codec": "h264", "audio": True, "rewrite": "avix"},
}


@pytest.fixture(scope="session")
def avi_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``avi_file(name)``: the fixture file ``name`` of :data:`FILES`, made once per session."""
    root = tmp_path_factory.mktemp("avi")

    def make(name: str) -> Path:
        path = root / f"{name}.avi"
        if path.exists():
            return path
        spec = dict(FILES[name])
        rewrite = spec.pop("rewrite", None)
        if rewrite is None:
            return make_avi(path, **spec)
        source = make_avi(root / f"{name}-source.avi", **spec)
        if rewrite == "absolute":
            return set_idx1_absolute(source, path)
        return rewrite_odml(source, path, per_index=10, riffs=3 if rewrite == "avix" else 1)

    return make


@pytest.fixture(scope="session")
def mencoder_file(
    avi_file: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An MPEG-4 Part 2 AVI written by MPlayer's mencoder (not by FFmpeg's muxer)."""
    binary = shutil.which("mencoder")
    if binary is None:
        pytest.fail("mencoder is not installed (Debian package 'mencoder')")
    target = tmp_path_factory.mktemp("mencoder") / "mencoder.avi"
    subprocess.run(
        [binary, str(avi_file("mjpeg")), "-really-quiet", "-nosound", "-ovc", "lavc",
         "-lavcopts", "vcodec=mpeg4:keyint=8", "-o", str(target)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return target


@pytest.fixture(scope="session")
def xvid_packed_file(
    avi_file: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """XviD with B-frames in a packed bitstream (DivX 5 style), written by mencoder."""
    binary = shutil.which("mencoder")
    if binary is None:
        pytest.fail("mencoder is not installed (Debian package 'mencoder')")
    target = tmp_path_factory.mktemp("xvid") / "packed.avi"
    options = "max_bframes=2:packed:max_key_interval=8:fixed_quant=4"
    subprocess.run(
        [binary, str(avi_file("mjpeg")), "-really-quiet", "-nosound", "-ovc", "xvid",
         "-xvidencopts", options, "-o", str(target)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return target


class Driven:
    """An index and the needs it took."""

    def __init__(self, index: ContainerIndex, needs: list[Need], read: int) -> None:
        self.index, self.needs, self.read = index, needs, read


def drive_bytes(data: bytes, limits: IndexLimits | None = None, max_needs: int = 64) -> Driven:
    """Run an :class:`AviIndexParser` over ``data``, feeding exactly the ranges it asks for."""
    parser = AviIndexParser(len(data), limits)
    needs: list[Need] = []
    read = 0
    for _ in range(max_needs):
        step = parser.step()
        if isinstance(step, ContainerIndex):
            return Driven(step, needs, read)
        needs.append(step)
        for wanted in step.ranges:
            parser.feed(wanted.start, data[wanted.start : wanted.stop])
            read += wanted.length
    raise AssertionError("the parser keeps asking")


@pytest.fixture
def drive() -> Callable[..., Driven]:
    return drive_bytes


def _time_bases(path: Path) -> dict[int, Fraction]:
    with av.open(str(path)) as container:
        return {s.id: Fraction(s.time_base) for s in container.streams}


def check_rows(path: Path, *, parsed_pts: bool) -> pd.DataFrame:
    """Index ``path`` and compare every row with PyAV's packets; returns the samples."""
    local = index_file(path)
    index = local.index
    assert index.container == "avi"
    assert index.samples.dtypes.astype(str).to_dict() == SAMPLE_DTYPES
    assert index.tracks.dtypes.astype(str).to_dict() == TRACK_DTYPES
    ours = index.samples
    oracle = demux_packets(path)
    assert sorted(zip(ours["track_id"], ours["offset"], strict=True)) == sorted(
        zip(oracle["track_id"], oracle["offset"], strict=True)
    )
    merged = ours.merge(oracle, on=["track_id", "offset"], suffixes=("", "_ff"))
    assert (merged["size"] == merged["size_ff"]).all()
    assert (merged["is_keyframe"] == merged["is_keyframe_ff"]).all()
    bases = _time_bases(path)
    tracks = index.tracks.set_index("track_id")
    for row in merged.itertuples():
        tick = Fraction(1, int(tracks.loc[row.track_id, "timescale"]))
        assert row.dts * tick == row.dts_ff * bases[row.track_id]
        kind = tracks.loc[row.track_id, "kind"]
        expected = row.dts_ff if parsed_pts and kind == "video" else row.pts_ff
        assert row.pts * tick == expected * bases[row.track_id]
        assert row.time == pytest.approx(float(row.pts * tick))
    return ours
