"""Fixtures for the Matroska parser's tests: videos made by PyAV's muxers, files
built element by element, and drivers that feed a parser or locator the
bytes it asks for.

Everything is shared through fixtures (the suite imports test modules with
``--import-mode=importlib``): ``videos`` makes (and caches) fixture files,
``mkv`` is a namespace of EBML writing helpers and the hand muxer,
``drive`` runs parsers and locators over bytes.
"""

from __future__ import annotations

import fractions
import io
import itertools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import pytest

from torframes.containers.base import ContainerIndex, IndexLimits, Located, Need
from torframes.containers.matroska import MatroskaIndexParser
from torframes.testing.videos import make_video
from torframes.testing.videos import remux as remux_packets

# -- EBML writing ---------------------------------------------------------------


def vint(value: int, length: int | None = None) -> bytes:
    """``value`` as an EBML variable-size integer of ``length`` octets (shortest by default)."""
    if length is None:
        length = 1
        while value >= (1 << (7 * length)) - 1:
            length += 1
    assert value < (1 << (7 * length)) - 1 or length == 8
    return ((1 << (7 * length)) | value).to_bytes(length, "big")


def element_id(eid: int) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big")


def el(eid: int, *payload: bytes, size_length: int | None = None) -> bytes:
    """An element with a known size."""
    body = b"".join(payload)
    return element_id(eid) + vint(len(body), size_length) + body


def unknown(eid: int, *payload: bytes) -> bytes:
    """An element of unknown size (8-octet all-ones size)."""
    return element_id(eid) + b"\x01\xff\xff\xff\xff\xff\xff\xff" + b"".join(payload)


def uint(eid: int, value: int, width: int | None = None) -> bytes:
    width = width or max(1, (value.bit_length() + 7) // 8)
    return el(eid, value.to_bytes(width, "big"))


def sint(eid: int, value: int) -> bytes:
    return el(eid, value.to_bytes(2, "big", signed=True))


def text(eid: int, value: str) -> bytes:
    return el(eid, value.encode())


def fl(eid: int, value: float) -> bytes:
    return el(eid, struct.pack(">d", value))


def ebml_header(doc_type: str = "matroska", read_version: int = 2) -> bytes:
    return el(
        0x1A45DFA3,
        uint(0x4286, 1),
        uint(0x42F7, 1),
        uint(0x42F2, 4),
        uint(0x42F3, 8),
        text(0x4282, doc_type),
        uint(0x4287, 4),
        uint(0x4285, read_version),
    )


def track_entry(
    number: int,
    codec_id: str,
    *,
    kind: int = 1,
    private: bytes | None = None,
    width: int = 128,
    height: int = 64,
    extra: bytes = b"",
) -> bytes:
    """A TrackEntry: video (kind 1) with PixelWidth/Height, or audio (kind 2)."""
    parts = [
        uint(0xD7, number),
        uint(0x73C5, 1000 + number),
        uint(0x83, kind),
        text(0x86, codec_id),
    ]
    if private is not None:
        parts.append(el(0x63A2, private))
    if kind == 1:
        parts.append(el(0xE0, uint(0xB0, width), uint(0xBA, height)))
    else:
        parts.append(el(0xE1, fl(0xB5, 48000.0), uint(0x9F, 1), uint(0x6264, 16)))
    parts.append(extra)
    return el(0xAE, *parts)


def header_stripping(prefix: bytes) -> bytes:
    """ContentEncodings that strip ``prefix`` from every frame (ContentCompAlgo 3)."""
    return el(
        0x6D80,
        el(
            0x6240,
            uint(0x5032, 1),
            uint(0x5033, 0),
            el(0x5034, uint(0x4254, 3), el(0x4255, prefix)),
        ),
    )


# -- a hand muxer -------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One frame to mux: track number, timestamp in ms, keyframe flag, data."""

    track: int
    pts: int
    key: bool
    data: bytes


def _block(
    track: int, timecode: int, key: bool, frames: Sequence[bytes], lacing: str | None
) -> bytes:
    flags = 0x80 if key else 0
    header = vint(track) + timecode.to_bytes(2, "big", signed=True)
    if lacing is None or (len(frames) == 1 and lacing != "fixed"):
        assert len(frames) == 1
        return header + bytes([flags]) + frames[0]
    count = bytes([len(frames) - 1])
    if lacing == "xiph":
        sizes = b"".join(b"\xff" * (len(f) // 255) + bytes([len(f) % 255]) for f in frames[:-1])
        return header + bytes([flags | 0x02]) + count + sizes + b"".join(frames)
    if lacing == "fixed":
        assert len({len(f) for f in frames}) == 1
        return header + bytes([flags | 0x04]) + count + b"".join(frames)
    sizes = vint(len(frames[0]))
    for previous, current in itertools.pairwise(frames[:-1]):
        delta = len(current) - len(previous)
        sizes += vint(delta + 63, 1) if -63 <= delta <= 63 else vint(delta + 8191, 2)
    return header + bytes([flags | 0x06]) + count + sizes + b"".join(frames)


def build_mkv(
    tracks: Sequence[bytes],
    frames: Sequence[Frame],
    *,
    doc_type: str = "matroska",
    cues: str | None = "back",
    relative: bool = True,
    lace: dict[int, tuple[str, int]] | None = None,
    block_groups: bool = False,
    unknown_sizes: bool = False,
    voids: bool = False,
    crc: bool = False,
    second_seekhead: bool = False,
    seekhead: bool = True,
    strip: dict[int, bytes] | None = None,
    duration: float | None = None,
) -> bytes:
    """A Matroska file built element by element from frames.

    A Cluster starts at every keyframe of track 1. ``lace`` maps a track to
    (lacing kind, frames per block); ``block_groups`` stores frames in
    BlockGroups (ReferenceBlock on non-keyframes); ``strip`` maps a track to
    the prefix header stripping removes from its frames (the TrackEntry must
    declare it). Cues list track 1's keyframes, with CueRelativePosition if
    ``relative``; ``cues`` is "back", "front" or None. ``second_seekhead``
    moves the Tracks and Cues entries to a second SeekHead at the end.
    """
    lace, strip = lace or {}, strip or {}
    # Blocks, grouped into clusters.
    clusters: list[tuple[int, list[tuple[bytes, int | None]]]] = []
    pending: list[Frame] = []

    def flush_laced() -> None:
        if pending:
            kind, _ = lace[pending[0].track]
            first = pending[0]
            datas = [f.data[len(strip.get(f.track, b"")) :] for f in pending]
            block = _block(first.track, first.pts - clusters[-1][0], first.key, datas, kind)
            key_pts = first.pts if first.key and first.track == 1 else None
            clusters[-1][1].append((el(0xA3, block), key_pts))
            pending.clear()

    for frame in frames:
        if (frame.track == 1 and frame.key) or not clusters:
            flush_laced()
            clusters.append((frame.pts, []))
        if frame.track in lace:
            if pending and (
                pending[0].track != frame.track or len(pending) == lace[frame.track][1]
            ):
                flush_laced()
            pending.append(frame)
            continue
        flush_laced()
        data = frame.data[len(strip.get(frame.track, b"")) :]
        block = _block(frame.track, frame.pts - clusters[-1][0], frame.key, [data], None)
        if block_groups:
            group = el(0xA1, block[:3] + bytes([block[3] & 0x7F]) + block[4:])
            if not frame.key:
                group += el(0x9B, b"\x01") + sint(0xFB, -1)
            element = el(0xA0, group)
        else:
            element = el(0xA3, block)
        clusters[-1][1].append((element, frame.pts if frame.key and frame.track == 1 else None))
    flush_laced()

    cluster_bytes: list[bytes] = []
    cue_entries: list[tuple[int, int, int]] = []  # (time, cluster index, relative)
    for index, (timestamp, blocks) in enumerate(clusters):
        body = (el(0xBF, b"\0\0\0\0") if crc else b"") + uint(0xE7, timestamp)
        for element, key_pts in blocks:
            if key_pts is not None:
                cue_entries.append((key_pts, index, len(body)))
            body += element
        cluster_bytes.append(
            unknown(0x1F43B675, body) if unknown_sizes else el(0x1F43B675, body, size_length=4)
        )

    info = el(
        0x1549A966,
        uint(0x2AD7B1, 1_000_000),
        fl(0x4489, duration or (frames[-1].pts + 40.0)),
        text(0x4D80, "hand"),
        text(0x5741, "hand"),
    )
    tracks_el = el(0x1654AE6B, *tracks)
    void = el(0xEC, b"\0" * 20) if voids else b""

    def cues_el(cluster_positions: list[int]) -> bytes:
        points = []
        for time, index, rel in cue_entries:
            positions = [uint(0xF7, 1), uint(0xF1, cluster_positions[index], 8)]
            if relative:
                positions.append(uint(0xF0, rel, 8))
            points.append(el(0xBB, uint(0xB3, time, 8), el(0xB7, *positions)))
        return el(0x1C53BB6B, *points, size_length=8)

    def seek(eid: int, position: int) -> bytes:
        return el(0x4DBB, el(0x53AB, element_id(eid)), uint(0x53AC, position, 8))

    # Two passes: sizes do not depend on positions (8-octet position fields).
    cues_len = len(cues_el([0] * len(clusters))) if cues else 0
    n_seeks = 2 if second_seekhead else 2 + bool(cues)  # Info, then SeekHead or Tracks (+ Cues)
    seekhead_len = (
        len(el(0x114D9B74, *(seek(0x1549A966, 0) for _ in range(n_seeks)))) if seekhead else 0
    )
    pos = seekhead_len + len(void)
    info_at = pos
    pos += len(info) + len(void)
    tracks_at = pos
    pos += len(tracks_el)
    cues_at = None
    if cues == "front":
        cues_at = pos
        pos += cues_len + len(void)
    cluster_positions = []
    for cluster in cluster_bytes:
        cluster_positions.append(pos)
        pos += len(cluster)
    if cues == "back":
        cues_at = pos
        pos += cues_len
    seekhead2_at = pos if second_seekhead else None
    cues_data = cues_el(cluster_positions) if cues else b""
    seeks = [seek(0x1549A966, info_at)]
    later = [seek(0x1654AE6B, tracks_at)]
    if cues:
        later.append(seek(0x1C53BB6B, cues_at))
    if second_seekhead:
        seekhead2 = el(0x114D9B74, *later)
        seeks.append(seek(0x114D9B74, seekhead2_at))
    else:
        seeks.extend(later)
        seekhead2 = b""
    seekhead_el = el(0x114D9B74, *seeks) if seekhead else b""
    assert len(seekhead_el) == seekhead_len
    body = seekhead_el + void + info + void + tracks_el
    if cues == "front":
        body += cues_data + void
    body += b"".join(cluster_bytes)
    if cues == "back":
        body += cues_data
    body += seekhead2
    segment = unknown(0x18538067, body) if unknown_sizes else el(0x18538067, body, size_length=8)
    return ebml_header(doc_type) + segment


# -- fixture files ------------------------------------------------------------


def remux(
    source: Path,
    target: Path,
    *,
    fmt: str = "matroska",
    options: dict[str, str] | None = None,
    seekable: bool = True,
) -> Path:
    """Copy ``source``'s packets into a new file (``seekable=False``: as to a pipe)."""
    return remux_packets(source, target, fmt=fmt, options=options, seekable=seekable)


def unknown_sizes(data: bytes, *, clusters: bool = True, segment: bool = True) -> bytes:
    """The same file with the Segment's and every Cluster's size made unknown, in place."""
    out = bytearray(data)
    from torframes.containers.matroska.ebml import read_element

    seg = read_element(data, data.index(b"\x18\x53\x80\x67"))
    if segment:
        _mark_unknown(out, seg.start + 4, seg.header - 4)
    pos = seg.data
    while pos < len(data):
        child = read_element(data, pos)
        if child.id == 0x1F43B675 and clusters:
            _mark_unknown(out, pos + 4, child.header - 4)
        assert child.size is not None
        pos = child.end
    return bytes(out)


def _mark_unknown(out: bytearray, at: int, length: int) -> None:
    out[at : at + length] = ((1 << (7 * length + 1)) - 1).to_bytes(length, "big")


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``videos(name=None, **make_video_args)``: a fixture video, made once per session."""
    root = tmp_path_factory.mktemp("mkv")
    made: dict[str, Path] = {}

    def make(**spec: Any) -> Path:
        key = repr(sorted(spec.items(), key=str))
        if key not in made:
            spec.setdefault("width", 128)
            spec.setdefault("height", 64)
            container = spec.get("container", "mkv")
            made[key] = make_video(root / f"v{len(made)}.{container}", **spec)
        return made[key]

    return make


@pytest.fixture(scope="session")
def mkv() -> SimpleNamespace:
    """EBML writing helpers and the hand muxer."""
    return SimpleNamespace(
        vint=vint,
        el=el,
        unknown=unknown,
        uint=uint,
        sint=sint,
        text=text,
        fl=fl,
        element_id=element_id,
        ebml_header=ebml_header,
        track_entry=track_entry,
        header_stripping=header_stripping,
        Frame=Frame,
        build=build_mkv,
        remux=remux,
        unknown_sizes=unknown_sizes,
        packets=packets,
    )


def packets(path: Path, track: int = 1) -> list[Frame]:
    """The frames of every stream of a file as :class:`Frame` (``track`` = stream index + 1)."""
    out = []
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size and packet.pts is not None:
                out.append(
                    Frame(
                        packet.stream.index + 1,
                        int(packet.pts),
                        bool(packet.is_keyframe),
                        bytes(packet),
                    )
                )
    return out


# -- drivers ------------------------------------------------------------------


@dataclass
class Run:
    """A parser run over bytes: its result, and the Needs it made."""

    index: ContainerIndex
    needs: list[Need]

    @property
    def bytes_asked(self) -> int:
        return sum(n.length for n in self.needs)


def run_parser(
    data: bytes, parser: Any = None, *, limits: IndexLimits | None = None, **options: Any
) -> Run:
    """Feed a parser exactly what it asks for, from ``data``; at most 50 steps."""
    parser = parser or MatroskaIndexParser(len(data), limits, **options)
    needs = []
    for _ in range(50):
        step = parser.step()
        if isinstance(step, ContainerIndex):
            return Run(step, needs)
        needs.append(step)
        for wanted in step.ranges:
            parser.feed(wanted.start, data[wanted.start : wanted.stop])
    raise AssertionError("parser did not finish in 50 steps")


def run_locator(data: bytes, locator: Any) -> tuple[Located, list[Need]]:
    """Feed a locator what it asks for; its answer and Needs."""
    needs = []
    for _ in range(50):
        step = locator.step()
        if isinstance(step, Located):
            return step, needs
        needs.append(step)
        for wanted in step.ranges:
            locator.feed(wanted.start, data[wanted.start : wanted.stop])
    raise AssertionError("locator did not finish in 50 steps")


def locate_all(data: bytes, index: ContainerIndex, track: int | None = None) -> list[Located]:
    """Every row (of ``track``) located."""
    assert index.locator is not None
    rows = index.samples if track is None else index.samples[index.samples["track_id"] == track]
    return [run_locator(data, index.locator(row))[0] for _, row in rows.iterrows()]


def demux_keyframes(path: Path | bytes, stream: int = 0) -> list[tuple[int, int, int, bytes]]:
    """PyAV's keyframes of a stream: ``(pos, size, pts, data)``."""
    source = io.BytesIO(path) if isinstance(path, bytes) else str(path)
    with av.open(source) as container:
        return [
            (packet.pos, packet.size, packet.pts, bytes(packet))
            for packet in container.demux(container.streams[stream])
            if packet.size and packet.is_keyframe
        ]


#: The decoder PyAV uses for a codec name, where FFmpeg's native one is not it
#: (its ``av1`` decoder needs hardware acceleration).
DECODERS = {"av1": "libdav1d"}


def decode_sample(config: Any, data: bytes) -> av.VideoFrame:
    """Decode one sample on its own with a decoder set up from a DecoderConfig."""
    context = av.CodecContext.create(DECODERS.get(config.codec_name, config.codec_name), "r")
    if config.extradata:
        context.extradata = config.extradata
    packet = av.Packet((config.sample_prefix or b"") + data)
    frames = list(context.decode(packet)) + list(context.decode(None))
    assert frames, "no frame decoded"
    return frames[0]


@pytest.fixture(scope="session")
def drive() -> SimpleNamespace:
    """Drivers: ``parse(data, ...)``, ``locate(data, locator)``, ``locate_all(data, index)``,
    ``demux_keyframes(path_or_bytes)``, ``decode(config, data)``."""
    return SimpleNamespace(
        parse=run_parser,
        locate=run_locator,
        locate_all=locate_all,
        demux_keyframes=demux_keyframes,
        decode=decode_sample,
        fps=fractions.Fraction(24),
    )
