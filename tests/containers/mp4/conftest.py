"""Fixtures for the MP4 index tests: fixture videos, the PyAV oracle, synthetic files.

Everything is made by the tests: videos with ``make_video`` (once per
session, on first use), synthetic files with the box writer in
``torframes.testing.mp4synth``. Helpers are handed out as fixtures,
since the suite imports test modules with ``--import-mode=importlib``.
"""

from __future__ import annotations

import fractions
import random
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import pytest

from torframes.containers.base import SAMPLE_DTYPES, ContainerIndex, IndexLimits, Need
from torframes.containers.mp4 import Mp4IndexParser
from torframes.containers.sniff import AutoIndexParser
from torframes.errors import (
    ContainerError,
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
    UnsupportedContainer,
)
from torframes.plan.pieces import PieceGeometry, pieces_for_ranges
from torframes.testing import mp4synth as synth
from torframes.testing.oracle import demux_packets
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

_FRAG = "+frag_keyframe+empty_moov"
_AV = {"bframes": 2, "audio": True}

#: Fragmented fixture videos (FFmpeg's mov muxer, as OBS, DASH/CMAF packagers and
#: ``ffmpeg -movflags`` write them): name -> make_video arguments.
FRAGMENTED: dict[str, dict[str, Any]] = {
    "frag_keyframe": {"muxer_options": {"movflags": _FRAG}},
    "frag_av": {**_AV, "muxer_options": {"movflags": _FRAG}},
    "frag_base_moof": {**_AV, "muxer_options": {"movflags": _FRAG + "+default_base_moof"}},
    "frag_audio_first": {
        **_AV,
        "audio_first": True,
        "muxer_options": {"movflags": _FRAG + "+default_base_moof"},
    },
    "frag_dash_sidx": {**_AV, "muxer_options": {"movflags": "+dash" + _FRAG + "+global_sidx"}},
    "frag_dash_segments": {**_AV, "muxer_options": {"movflags": "+dash"}},
    "frag_cmaf": {**_AV, "muxer_options": {"movflags": "+cmaf" + _FRAG}},
    "frag_duration": {
        "audio": True,
        "muxer_options": {"movflags": "+empty_moov", "frag_duration": "300000"},
    },
    "frag_negative_cts": {
        "bframes": 2,
        "muxer_options": {"movflags": _FRAG + "+negative_cts_offsets"},
    },
    "frag_moov_samples": {**_AV, "muxer_options": {"movflags": "+frag_keyframe"}},
    "frag_isml": {**_AV, "muxer_options": {"movflags": "+frag_keyframe+isml"}},
    "frag_delay_moov": {**_AV, "muxer_options": {"movflags": "+frag_keyframe+delay_moov"}},
    "frag_separate_moof": {**_AV, "muxer_options": {"movflags": _FRAG + "+separate_moof"}},
    "frag_no_mfra": {**_AV, "muxer_options": {"movflags": _FRAG + "+skip_trailer"}},
    "frag_every_frame": {
        **_AV,
        "frames": 24,
        "muxer_options": {"movflags": "+frag_every_frame+empty_moov+default_base_moof"},
    },
    "frag_custom": {"bframes": 2, "muxer_options": {"movflags": "+frag_custom+empty_moov"}},
    "frag_hevc": {"codec": "hevc", **_AV, "muxer_options": {"movflags": _FRAG}},
    "frag_av1": {"codec": "av1", "muxer_options": {"movflags": _FRAG}},
    "frag_vp9": {"codec": "vp9", "audio": True, "muxer_options": {"movflags": _FRAG}},
    "frag_mpeg4": {"codec": "mpeg4", "bframes": 2, "muxer_options": {"movflags": _FRAG}},
    "frag_mov": {"container": "mov", **_AV, "muxer_options": {"movflags": _FRAG}},
}
#: Large fragments (noisy frames): each ``moof`` in its own 16 KiB piece.
_LARGE = {"frames": 120, "gop": 12, "noise": True, **_AV}
FRAGMENTED_LARGE: dict[str, dict[str, Any]] = {
    "frag_large_mfra": {**_LARGE, "muxer_options": {"movflags": _FRAG}},
    "frag_large_sidx": {**_LARGE, "muxer_options": {"movflags": "+dash" + _FRAG + "+global_sidx"}},
    "frag_large_no_index": {**_LARGE, "muxer_options": {"movflags": _FRAG + "+skip_trailer"}},
    "frag_large_duration": {
        **_LARGE,
        "muxer_options": {"movflags": "+empty_moov", "frag_duration": "200000"},
    },
}
VIDEOS.update(FRAGMENTED)
VIDEOS.update(FRAGMENTED_LARGE)


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
        columns = ["track_id", "offset", "size", "pts", "dts", "is_keyframe", "discard"]
        return demux_packets(source)[columns]

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


#: The errors a parser raises on purpose (``ContainerError`` itself is never raised).
DELIBERATE = {MalformedContainer, TruncatedContainer, IndexTooLarge, UnsupportedContainer}


@pytest.fixture(scope="session")
def run_hostile() -> Callable[..., ContainerIndex | ContainerError]:
    """``run_hostile(data, limits=None, steps=64)``: index hostile bytes, answering needs exactly.

    Returns the index or the container error. Only deliberate errors may
    come out: a :class:`ContainerError` of a known type that the parser
    raised itself (not converted from a Python exception, which would be a
    reader's missing check), saying where once; anything else propagates
    and fails the test. An index must be plausible: our dtypes, every
    sample inside the file and within ``max_sample_bytes``.
    """

    def run(
        data: bytes, limits: IndexLimits | None = None, steps: int = 64
    ) -> ContainerIndex | ContainerError:
        limits = limits or IndexLimits()
        parser = Mp4IndexParser(len(data), limits)
        try:
            for _ in range(steps):
                step = parser.step()
                if isinstance(step, ContainerIndex):
                    _check_index(step, len(data), limits)
                    return step
                for wanted in step.ranges:
                    parser.feed(wanted.start, data[wanted.start : wanted.stop])
        except ContainerError as exc:
            error = exc
        else:
            raise AssertionError("the parser keeps asking")
        assert type(error) in DELIBERATE, repr(error)
        assert error.__cause__ is None or isinstance(error.__cause__, zlib.error), error.__cause__
        assert str(error).count(" at byte ") <= 1, str(error)
        return error

    return run


def _check_index(index: ContainerIndex, file_size: int, limits: IndexLimits) -> None:
    samples = index.samples
    assert samples.dtypes.astype(str).to_dict() == SAMPLE_DTYPES
    sized = samples[samples["size"].notna()]
    offsets, sizes = sized["offset"].to_numpy(), sized["size"].to_numpy(dtype="int64")
    assert (offsets >= 0).all()
    assert (offsets + sizes <= file_size).all()
    assert (sizes <= limits.max_sample_bytes).all()


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


# -- fragmented files ---------------------------------------------------------


def _empty_stbl() -> list[bytes]:
    return [synth.stts([]), synth.stsc([]), synth.stsz([]), synth.stco([])]


@pytest.fixture(scope="session")
def fragmented_file() -> Callable[..., bytes]:
    """``fragmented_file(tracks, fragments, index=None, ...)``: a synthetic fragmented file.

    ``tracks`` are dicts: ``handler`` (``b"vide"``), ``timescale``,
    ``edits`` (segment duration, media time) pairs, ``trex`` (keywords for
    :func:`synth.trex`), ``tables`` (``stbl`` tables; empty by default).
    ``fragments`` is a list of ``moof``s, each a list of run dicts for
    :func:`synth.fragment`. ``index``: None, ``"sidx"`` (one ``sidx`` of
    track 1 listing every fragment, after ``moov``), ``"mfra"`` (``tfra``
    per track listing every fragment holding it) or ``"both"``.
    ``trex`` overrides the ``trex`` boxes, ``after_moov`` adds top-level
    bytes after ``moov``, ``tfra_shift`` moves every ``tfra`` offset.
    """

    def build(
        tracks: Sequence[dict[str, Any]],
        fragments: Sequence[Sequence[dict[str, Any]]],
        *,
        index: str | None = None,
        movie_timescale: int = 1000,
        trex: Sequence[bytes] | None = None,
        after_moov: bytes = b"",
        tfra_shift: int = 0,
    ) -> bytes:
        traks = []
        for track_id, spec in enumerate(tracks, 1):
            handler = spec.get("handler", b"vide")
            audio = handler == b"soun"
            entry = spec.get("entry") or synth.sample_entry(
                b"xaud" if audio else b"xvid", audio=audio
            )
            edits = synth.elst(spec["edits"]) if spec.get("edits") else b""
            traks.append(
                synth.trak(
                    track_id,
                    handler=handler,
                    timescale=spec.get("timescale", 48000 if audio else 12288),
                    entry=entry,
                    tables=spec.get("tables") or _empty_stbl(),
                    edits=edits,
                )
            )
        if trex is None:
            trex = [synth.trex(i, **spec.get("trex", {})) for i, spec in enumerate(tracks, 1)]
        moov = synth.box(b"moov", synth.mvhd(movie_timescale), *traks, synth.mvex(*trex))
        head = _ftyp() + moov + after_moov

        def lay(start: int) -> tuple[bytes, list[int], list[int]]:
            out, moofs, sizes = b"", [], []
            for sequence, runs in enumerate(fragments, 1):
                data, _ = synth.fragment(sequence, runs, at=start + len(out))
                moofs.append(start + len(out))
                sizes.append(len(data))
                out += data
            return out, moofs, sizes

        sidx = b""
        if index in ("sidx", "both"):
            _, _, sizes = lay(0)
            durations = [
                sum(int(np.sum(r.get("durations", [0]))) for r in runs if r["track_id"] == 1)
                for runs in fragments
            ]
            timescale = tracks[0].get("timescale", 12288)
            sidx = synth.sidx(1, timescale, list(zip(sizes, durations, strict=True)))
        body, moofs, _ = lay(len(head) + len(sidx))
        data = head + sidx + body
        if index in ("mfra", "both"):
            tfras = [
                synth.tfra(
                    track_id,
                    [
                        (0, moof + tfra_shift)
                        for moof, runs in zip(moofs, fragments, strict=True)
                        if any(r["track_id"] == track_id for r in runs)
                    ],
                )
                for track_id in range(1, len(tracks) + 1)
            ]
            data += synth.mfra(*tfras)
        return data

    return build


@pytest.fixture(scope="session")
def drive_pieces() -> Callable[..., tuple[ContainerIndex, list[tuple[str, int]], set, set]]:
    """``drive_pieces(data, piece_size, limits=None, seed=0)``: index as the torrent probe does.

    Mirrors :func:`torframes.api.probe.drive`: each need becomes the pieces
    covering it, fetched as one round and fed whole, in a shuffled order
    (pieces arrive in any order); asking again for fed pieces fails.
    Returns the index, the rounds (reason, new pieces), the pieces fetched
    and the piece floor (pieces holding any byte of ``index_ranges``).
    """

    def run(data: bytes, piece_size: int, limits: IndexLimits | None = None, seed: int = 0):
        geometry = PieceGeometry(piece_size, len(data), 0, len(data))
        parser = AutoIndexParser(len(data), limits)
        order = random.Random(seed)
        fed: set[int] = set()
        rounds: list[tuple[str, int]] = []
        while not isinstance(step := parser.step(), ContainerIndex):
            fresh = sorted(pieces_for_ranges(geometry, step.ranges) - fed)
            assert fresh, f"asked again for pieces already fed ({step.reason})"
            assert len(rounds) < 2000, "too many rounds"
            order.shuffle(fresh)
            for piece in fresh:
                offset, view = geometry.file_slice(piece, data[piece * piece_size :][:piece_size])
                parser.feed(offset, view)
                fed.add(piece)
            rounds.append((step.reason, len(fresh)))
        return step, rounds, fed, pieces_for_ranges(geometry, step.index_ranges)

    return run
