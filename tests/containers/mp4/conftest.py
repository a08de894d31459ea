"""Fixtures for the MP4 index tests: fixture videos, the PyAV oracle, synthetic files.

Everything is made by the tests: videos with ``make_video`` (once per
session, on first use), synthetic files with the box writer in
``torframes.containers.mp4.synth``. Helpers are handed out as fixtures,
since the suite imports test modules with ``--import-mode=importlib``.
"""

from __future__ import annotations

import fractions
import io
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import pytest

from torframes.containers.base import ContainerIndex, IndexLimits, Need
from torframes.containers.mp4 import Mp4IndexParser, synth
from torframes.testing.videos import make_video

#: Fixture videos for the oracle: name -> make_video arguments.
VIDEOS: dict[str, dict[str, Any]] = {
    "h264_tail": {},
    "h264_head": {"faststart": True},
    "h264_bframes": {"bframes": 2},
    "h264_bframes_head": {"bframes": 2, "faststart": True},
    "av_audio": {"bframes": 2, "audio": True},
    "audio_first": {"audio": True, "audio_first": True, "faststart": True},
    "gop48": {"frames": 96, "gop": 48, "bframes": 2},
    "gop250": {"frames": 120, "gop": 250},
    "gop1": {"frames": 24, "gop": 1},
    "gop2": {"frames": 24, "gop": 2, "bframes": 1},
    "gop3": {"frames": 24, "gop": 3, "bframes": 2},
    "hevc": {"codec": "hevc", "bframes": 2},
    "hevc_open_gop": {
        "codec": "hevc",
        "bframes": 2,
        "encoder_options": {
            "x265-params": "keyint=12:min-keyint=12:scenecut=0:bframes=2:open-gop=1"
            ":frame-threads=1:pools=none:log-level=error"
        },
    },
    "av1": {"codec": "av1"},
    "vp9": {"codec": "vp9"},
    "mpeg4": {"codec": "mpeg4", "bframes": 2},
    "mov": {"container": "mov", "audio": True, "bframes": 2},
    "mov_head": {"container": "mov", "faststart": True},
    "negative_cts": {"bframes": 2, "muxer_options": {"movflags": "+negative_cts_offsets"}},
    "empty_edit": {"bframes": 2, "audio": True, "muxer_options": {"output_ts_offset": "0.5"}},
    "no_editlist": {"bframes": 2, "audio": True, "muxer_options": {"use_editlist": "0"}},
    "fragmented": {"muxer_options": {"movflags": "+frag_keyframe+empty_moov"}},
    "large_tail": {"noise": True, "frames": 48, "crf": 2, "audio": True},
}


@pytest.fixture(scope="session")
def video(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``video(name)``: the fixture video ``name`` of :data:`VIDEOS`, made on first use."""
    root = tmp_path_factory.mktemp("mp4-videos")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            spec = VIDEOS[name]
            suffix = ".mov" if spec.get("container") == "mov" else ".mp4"
            made[name] = make_video(root / f"{name}{suffix}", **spec)
        return made[name]

    return get


@pytest.fixture(scope="session")
def pcm_video(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``pcm_video(codec)``: a QuickTime file with H.264 video and PCM audio in ``codec``.

    ``make_video`` writes AAC; uncompressed audio, as cameras write it, is
    muxed here with PyAV (FFmpeg's mov muxer), 2000-frame audio chunks.
    """
    root = tmp_path_factory.mktemp("mp4-pcm")
    made: dict[str, Path] = {}

    def get(codec: str) -> Path:
        if codec not in made:
            made[codec] = _pcm_mov(root / f"{codec}.mov", codec)
        return made[codec]

    return get


def _pcm_mov(path: Path, codec: str) -> Path:
    with av.open(str(path), "w", format="mov") as container:
        video = container.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 128, 64, "yuv420p"
        audio = container.add_stream(codec, rate=48000)
        audio.layout = "stereo"
        fmt = audio.codec_context.format.name
        dtype = {"s16": np.int16, "s32": np.int32, "u8": np.uint8}[fmt]
        for i in range(24):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 128, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, fractions.Fraction(1, 24)
            for packet in video.encode(frame):
                container.mux(packet)
            sound = av.AudioFrame.from_ndarray(
                np.zeros((1, 4000), dtype), format=fmt, layout="stereo"
            )
            sound.sample_rate, sound.pts = 48000, i * 2000
            for packet in audio.encode(sound):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    return path


@pytest.fixture(scope="session")
def demux() -> Callable[[Path | bytes], pd.DataFrame]:
    """``demux(path_or_bytes)``: PyAV's packets, one row each, in demux order per track.

    Columns ``track_id`` (the stream id, which is the MP4 track ID),
    ``offset`` (``packet.pos``), ``size``, ``pts``, ``dts``, ``is_keyframe``,
    ``discard``. PyAV's zero-size flush packets are left out.
    """

    def run(source: Path | bytes) -> pd.DataFrame:
        opened = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source))
        rows = []
        with opened as container:
            for packet in container.demux():
                if packet.size == 0:
                    continue
                rows.append(
                    (
                        packet.stream.id,
                        packet.pos,
                        packet.size,
                        packet.pts,
                        packet.dts,
                        packet.is_keyframe,
                        packet.is_discard,
                    )
                )
        columns = ["track_id", "offset", "size", "pts", "dts", "is_keyframe", "discard"]
        return pd.DataFrame(rows, columns=columns)

    return run


@pytest.fixture(scope="session")
def assert_matches_pyav() -> Callable[[pd.DataFrame, pd.DataFrame], None]:
    """``check(samples, packets)``: the samples table equals PyAV's packets, row by row."""

    def check(samples: pd.DataFrame, packets: pd.DataFrame) -> None:
        assert sorted(samples.track_id.unique()) == sorted(packets.track_id.unique())
        for track_id, theirs in packets.groupby("track_id", sort=True):
            ours = samples[samples.track_id == track_id]
            assert len(ours) == len(theirs), f"track {track_id}: {len(ours)} rows vs {len(theirs)}"
            for column in ("offset", "size", "pts", "dts", "is_keyframe"):
                mine = ours[column].to_numpy(dtype=theirs[column].dtype)
                want = theirs[column].to_numpy()
                bad = np.flatnonzero(mine != want)
                assert not len(bad), (
                    f"track {track_id} {column}: first difference at row {bad[0]}: "
                    f"{mine[bad[0]]} vs PyAV {want[bad[0]]}"
                )

    return check


@pytest.fixture(scope="session")
def drive() -> Callable[..., tuple[ContainerIndex, list[Need]]]:
    """``drive(data, parser=None, limits=None)``: run a parser, answering each need exactly.

    Returns the index and the needs asked, in order.
    """

    def run(
        data: bytes, parser: Any = None, limits: IndexLimits | None = None
    ) -> tuple[ContainerIndex, list[Need]]:
        parser = parser or Mp4IndexParser(len(data), limits)
        needs: list[Need] = []
        while not isinstance(step := parser.step(), ContainerIndex):
            needs.append(step)
            assert len(needs) < 64, "too many needs"
            for wanted in step.ranges:
                parser.feed(wanted.start, data[wanted.start : wanted.stop])
        return step, needs

    return run


@pytest.fixture(scope="session")
def parse_bytes() -> Callable[..., ContainerIndex]:
    """``parse_bytes(data, limits=None)``: feed a whole file at once and take the index."""

    def run(data: bytes, limits: IndexLimits | None = None) -> ContainerIndex:
        parser = Mp4IndexParser(len(data), limits)
        parser.feed(0, data)
        result = parser.step()
        assert isinstance(result, ContainerIndex), result
        return result

    return run


def _ftyp() -> bytes:
    return synth.box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2mp41")


@pytest.fixture(scope="session")
def synthetic_file() -> Callable[..., bytes]:
    """``synthetic_file(tracks, movie_timescale=1000, moov_first=False)``: a complete small file.

    Each track is a dict: ``sizes`` (list of sample sizes; the media are
    zeros), optional ``per_chunk`` (samples per chunk, default 1),
    ``handler`` (``b"vide"``), ``entry`` (sample entry bytes; by default an
    unknown fourcc FFmpeg passes through unparsed), ``timescale``, ``stts``
    runs, ``ctts`` runs (written as version 1), ``stss`` numbers, ``edits``
    (segment duration, media time) pairs, ``extra`` boxes for ``stbl``.
    """

    def build(
        tracks: Sequence[dict[str, Any]], movie_timescale: int = 1000, moov_first: bool = False
    ) -> bytes:
        head = _ftyp()

        def moov_for(media_start: int) -> bytes:
            pos = media_start
            traks = []
            for track_id, spec in enumerate(tracks, 1):
                sizes = list(spec["sizes"])
                n, per = len(sizes), spec.get("per_chunk", 1)
                chunks = -(-n // per)
                runs = [(1, per, 1)]
                if n % per:
                    runs = [(1, per, 1), (chunks, n % per, 1)] if chunks > 1 else [(1, n, 1)]
                starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
                offsets = [pos + int(starts[i * per]) for i in range(chunks)]
                pos += sum(sizes)
                tables = [
                    synth.stts(spec.get("stts", [(n, 512)])),
                    synth.stsz(sizes),
                    synth.stsc(runs),
                    synth.stco(offsets),
                    *spec.get("extra", ()),
                ]
                if spec.get("ctts") is not None:
                    tables.insert(1, synth.ctts(spec["ctts"], version=1))
                if spec.get("stss") is not None:
                    tables.insert(1, synth.stss(spec["stss"]))
                edits = synth.elst(spec["edits"]) if spec.get("edits") is not None else b""
                handler = spec.get("handler", b"vide")
                audio = handler == b"soun"
                entry = spec.get("entry") or synth.sample_entry(
                    b"xaud" if audio else b"xvid", audio=audio
                )
                traks.append(
                    synth.trak(
                        track_id,
                        handler=handler,
                        timescale=spec.get("timescale", 48000 if audio else 12288),
                        entry=entry,
                        tables=tables,
                        edits=edits,
                    )
                )
            return synth.box(b"moov", synth.mvhd(movie_timescale), *traks)

        media = bytes(sum(sum(spec["sizes"]) for spec in tracks))
        if moov_first:
            size = len(moov_for(0))
            return head + moov_for(len(head) + size + 8) + synth.box(b"mdat", media)
        return head + synth.box(b"mdat", media) + moov_for(len(head) + 8)

    return build


@pytest.fixture(scope="session")
def rewrite_co64() -> Callable[..., bytes]:
    """``rewrite_co64(data, large_mdat=False)``: the file with every ``stco`` turned into ``co64``.

    The parent sizes grow by 4 bytes per chunk; when ``moov`` precedes the
    media every chunk offset moves by the growth. ``large_mdat`` also gives
    ``mdat`` a 64-bit largesize header (8 more bytes before the media).
    """

    def rewrite(data: bytes, large_mdat: bool = False) -> bytes:
        boxes = _top_boxes(data)
        moov_at = next(start for kind, start, _ in boxes if kind == b"moov")
        mdat_at = next(start for kind, start, _ in boxes if kind == b"mdat")
        moov = data[moov_at : moov_at + _size(data, moov_at)]
        grown = len(_to_co64(moov, 0))
        shift = (grown - len(moov) if moov_at < mdat_at else 0) + (8 if large_mdat else 0)
        out = b""
        for kind, start, size in boxes:
            chunk = data[start : start + size]
            if kind == b"moov":
                chunk = _to_co64(chunk, shift)
            elif kind == b"mdat" and large_mdat:
                chunk = struct.pack(">I4sQ", 1, b"mdat", size + 8) + chunk[8:]
            out += chunk
        return out

    return rewrite


def _size(data: bytes, at: int) -> int:
    size = struct.unpack_from(">I", data, at)[0]
    return struct.unpack_from(">Q", data, at + 8)[0] if size == 1 else size


def _top_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    boxes, pos = [], 0
    while pos < len(data):
        size = _size(data, pos)
        boxes.append((data[pos + 4 : pos + 8], pos, size))
        pos += size
    return boxes


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _to_co64(box: bytes, shift: int) -> bytes:
    kind = box[4:8]
    if kind == b"stco":
        count = struct.unpack_from(">I", box, 12)[0]
        offsets = np.frombuffer(box, ">u4", count, 16).astype(np.uint64) + np.uint64(shift)
        return synth.full_box(
            b"co64", 0, 0, struct.pack(">I", count), offsets.astype(">u8").tobytes()
        )
    if kind not in _CONTAINERS:
        return box
    children, pos = [], 8
    while pos + 8 <= len(box):
        size = struct.unpack_from(">I", box, pos)[0]
        children.append(_to_co64(box[pos : pos + size], shift))
        pos += size
    return synth.box(kind, *children)
