"""The movie box: walk ``moov`` and gather every track's boxes, unexpanded.

``moov`` (ISO/IEC 14496-12 §8.2.1) holds ``mvhd`` and one ``trak`` per
track: ``tkhd``, ``edts``/``elst``, and ``mdia`` with ``mdhd``, ``hdlr`` and
``minf``/``stbl`` (the sample table, §8.5). Only the boxes on that path are
opened; the rest (``udta``, ``meta``, ``iods``...) are stepped over by
their size. ``mvex`` (§8.8.1) marks a fragmented file: its ``trex`` boxes
(§8.8.3, each track's sample defaults) and ``mehd`` (§8.8.2) are kept for
the fragments (:mod:`~torframes.containers.mp4.moof`). A QuickTime
compressed movie (``cmov``: ``dcom`` names zlib, ``cmvd`` holds the
deflated ``moov``) is inflated, up to the index size cap.

Every nested box is checked to lie within its parent and no deeper than
``IndexLimits.max_depth``; a table box appearing twice in one track is
rejected rather than silently chosen; the samples all tracks declare are
counted against ``IndexLimits.max_samples`` before anything is expanded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from torframes.containers.base import IndexLimits
from torframes.containers.mp4.boxes import BoxHeader, Reader, iter_boxes, read_box_header
from torframes.containers.mp4.fragment_boxes import Trex, read_mehd, read_trex
from torframes.containers.mp4.headers import (
    EditList,
    Mdhd,
    Mvhd,
    Tkhd,
    read_elst,
    read_hdlr,
    read_mdhd,
    read_mvhd,
    read_tkhd,
)
from torframes.containers.mp4.sample_entries import SampleEntry, read_stsd
from torframes.containers.mp4.sample_tables import (
    ChunkRuns,
    Runs,
    SampleSizes,
    read_co64,
    read_ctts,
    read_rap_groups,
    read_stco,
    read_stsc,
    read_stss,
    read_stsz,
    read_stts,
    read_stz2,
)
from torframes.errors import IndexTooLarge, MalformedContainer

__all__ = ["Movie", "Track", "parse_moov"]


@dataclass
class Track:
    """One ``trak``'s boxes, read but not expanded."""

    tkhd: Tkhd
    mdhd: Mdhd
    handler: bytes
    entries: list[SampleEntry]
    stsd_version: int = 0
    stts: Runs | None = None
    ctts: Runs | None = None
    stss: np.ndarray | None = None
    stps: np.ndarray | None = None
    sizes: SampleSizes | None = None
    stsc: ChunkRuns | None = None
    chunk_offsets: np.ndarray | None = None
    rap: Runs | None = None
    elst: EditList | None = None

    @property
    def track_id(self) -> int:
        return self.tkhd.track_id

    @property
    def kind(self) -> str:
        return {b"vide": "video", b"soun": "audio"}.get(self.handler, "other")

    @property
    def sample_count(self) -> int:
        return self.sizes.count if self.sizes is not None else 0

    @property
    def chunk_audio(self) -> bool:
        """FFmpeg demuxes this track chunk by chunk: audio whose ``stts`` is one run of delta 1.

        That is how uncompressed audio (PCM in QuickTime) is laid out: a
        "sample" is one PCM frame, so FFmpeg makes packets of up to 1024.
        """
        stts = self.stts
        return (
            self.kind == "audio"
            and stts is not None
            and len(stts.counts) == 1
            and stts.values[0] == 1
        )


@dataclass
class Movie:
    """What ``moov`` says: the movie header, the tracks, whether samples live in fragments.

    ``trex`` maps track IDs to their fragment defaults (the first ``trex``
    of a track wins, as in FFmpeg); ``fragment_duration`` is ``mehd``'s.
    """

    mvhd: Mvhd
    tracks: list[Track]
    fragmented: bool = False
    notes: list[str] = field(default_factory=list)
    trex: dict[int, Trex] = field(default_factory=dict)
    fragment_duration: int | None = None


def parse_moov(
    buf: bytes | memoryview,
    *,
    base: int,
    file_size: int,
    limits: IndexLimits,
    inflated: bool = False,
) -> Movie:
    """Read the ``moov`` box held in ``buf`` (``buf[0]`` is its header, at file offset ``base``).

    ``inflated`` is True for the ``moov`` a ``cmov`` held: it may not hold another.
    """
    moov = read_box_header(buf, 0, len(buf), base=base)
    if moov.type != b"moov":
        raise MalformedContainer(f"expected 'moov', found '{moov.name}'", offset=base)
    mvhd: Mvhd | None = None
    tracks: list[Track] = []
    fragmented = False
    trex: dict[int, Trex] = {}
    fragment_duration: int | None = None
    for box in _children(buf, moov, base, 1, limits):
        r = Reader.payload(buf, box, base=base)
        if box.type == b"mvhd":
            mvhd = _once(mvhd, read_mvhd(r), box)
        elif box.type == b"trak":
            tracks.append(_read_trak(buf, box, base, 2, limits))
        elif box.type == b"mvex":
            fragmented = True
            fragment_duration = _read_mvex(buf, box, base, limits, trex)
        elif box.type == b"cmov":
            if inflated:
                raise MalformedContainer("a compressed 'moov' inside a compressed 'moov'")
            return _inflate(r, file_size, limits)
    if mvhd is None:
        raise MalformedContainer("'moov' has no 'mvhd'", offset=base)
    _check_tracks(tracks, limits)
    return Movie(mvhd, tracks, fragmented, trex=trex, fragment_duration=fragment_duration)


def _read_mvex(
    buf: bytes | memoryview, mvex: BoxHeader, base: int, limits: IndexLimits, trex: dict[int, Trex]
) -> int | None:
    """``mvex`` (§8.8.1): every ``trex`` into ``trex``; returns ``mehd``'s duration, if any."""
    duration = None
    for box in _children(buf, mvex, base, 2, limits):
        r = Reader.payload(buf, box, base=base)
        if box.type == b"trex":
            found = read_trex(r)
            trex.setdefault(found.track_id, found)
        elif box.type == b"mehd":
            duration = read_mehd(r)
    return duration


def _check_depth(depth: int, limits: IndexLimits, box: BoxHeader) -> None:
    if depth > limits.max_depth:
        raise MalformedContainer(
            f"boxes nested deeper than {limits.max_depth} levels", offset=box.start
        )


def _children(
    buf: bytes | memoryview, box: BoxHeader, base: int, depth: int, limits: IndexLimits
) -> Iterator[BoxHeader]:
    """The boxes inside ``box``, which sit at nesting level ``depth`` (``moov``'s are 1)."""
    _check_depth(depth, limits, box)
    return iter_boxes(buf, box.payload_start - base, box.end - base, base=base)


def _once(current: Any, new: Any, box: BoxHeader) -> Any:
    if current is not None:
        raise MalformedContainer(f"a second '{box.name}' in one parent", offset=box.start)
    return new


@dataclass
class _Parts:
    tkhd: Tkhd | None = None
    elst: EditList | None = None
    mdhd: Mdhd | None = None
    handler: bytes | None = None
    minf: BoxHeader | None = None
    tables: dict[str, Any] = field(default_factory=dict)


def _read_trak(
    buf: bytes | memoryview, trak: BoxHeader, base: int, depth: int, limits: IndexLimits
) -> Track:
    """A ``trak`` (§8.3.1): ``tkhd``, ``edts``/``elst`` and ``mdia`` (§8.4.1)."""
    parts = _Parts()
    for box in _children(buf, trak, base, depth, limits):
        if box.type == b"tkhd":
            parts.tkhd = _once(parts.tkhd, read_tkhd(Reader.payload(buf, box, base=base)), box)
        elif box.type == b"edts":
            for edit in _children(buf, box, base, depth + 1, limits):
                if edit.type == b"elst":
                    elst = read_elst(Reader.payload(buf, edit, base=base))
                    parts.elst = _once(parts.elst, elst, edit)
        elif box.type == b"mdia":
            _read_mdia(buf, box, base, depth + 1, limits, parts)
    where = trak.start
    if parts.tkhd is None:
        raise MalformedContainer("'trak' has no 'tkhd'", offset=where)
    if parts.mdhd is None or parts.handler is None:
        raise MalformedContainer("'trak' has no 'mdhd' or 'hdlr'", offset=where)
    if parts.minf is None:
        raise MalformedContainer("'trak' has no 'minf'", offset=where)
    stbl = _read_minf(buf, parts.minf, base, depth + 2, limits)
    stsd = stbl.pop("stsd", None)
    if stsd is None:
        raise MalformedContainer("'stbl' has no 'stsd'", offset=parts.minf.start)
    version, entries = read_stsd(stsd, parts.handler)
    return Track(
        tkhd=parts.tkhd,
        mdhd=parts.mdhd,
        handler=parts.handler,
        entries=entries,
        stsd_version=version,
        elst=parts.elst,
        **stbl,
    )


def _read_mdia(
    buf: bytes | memoryview,
    mdia: BoxHeader,
    base: int,
    depth: int,
    limits: IndexLimits,
    parts: _Parts,
) -> None:
    for box in _children(buf, mdia, base, depth, limits):
        r = Reader.payload(buf, box, base=base)
        if box.type == b"mdhd":
            parts.mdhd = _once(parts.mdhd, read_mdhd(r), box)
        elif box.type == b"hdlr":
            parts.handler = _once(parts.handler, read_hdlr(r), box)
        elif box.type == b"minf":
            parts.minf = _once(parts.minf, box, box)


#: ``stbl`` child -> (Track field, reader).
_TABLES = {
    b"stts": ("stts", read_stts),
    b"ctts": ("ctts", read_ctts),
    b"stss": ("stss", read_stss),
    b"stps": ("stps", read_stss),
    b"stsz": ("sizes", read_stsz),
    b"stz2": ("sizes", read_stz2),
    b"stsc": ("stsc", read_stsc),
    b"stco": ("chunk_offsets", read_stco),
    b"co64": ("chunk_offsets", read_co64),
}


def _read_minf(
    buf: bytes | memoryview, minf: BoxHeader, base: int, depth: int, limits: IndexLimits
) -> dict[str, Any]:
    """``minf`` (§8.4.4) -> ``stbl`` (§8.5.1): each table read once; ``stsd`` left as a reader."""
    tables: dict[str, Any] = {}
    for box in _children(buf, minf, base, depth, limits):
        if box.type != b"stbl":
            continue
        if "stsd" in tables:
            raise MalformedContainer("a second 'stbl' in one 'minf'", offset=box.start)
        for child in _children(buf, box, base, depth + 1, limits):
            r = Reader.payload(buf, child, base=base)
            if child.type == b"stsd":
                _check_depth(depth + 2, limits, child)  # its sample entries' children
                tables["stsd"] = _once(tables.get("stsd"), r, child)
            elif child.type in _TABLES:
                name, reader = _TABLES[child.type]
                tables[name] = _once(tables.get(name), reader(r), child)
            elif child.type == b"sbgp":
                rap = read_rap_groups(r)
                if rap is not None:
                    tables["rap"] = _once(tables.get("rap"), rap, child)
    if "stsd" not in tables:
        raise MalformedContainer("'minf' has no 'stbl' with an 'stsd'", offset=minf.start)
    return tables


def _check_tracks(tracks: list[Track], limits: IndexLimits) -> None:
    seen: set[int] = set()
    total = 0
    for track in tracks:
        if track.track_id >= 2**31:
            raise MalformedContainer(f"track ID {track.track_id} does not fit 31 bits")
        if track.track_id in seen:
            raise MalformedContainer(f"two tracks have ID {track.track_id}")
        seen.add(track.track_id)
        if not track.chunk_audio:  # its packets, not its PCM frames, are counted later
            total += track.sample_count
    if total > limits.max_samples:
        raise IndexTooLarge(f"'moov' declares {total} samples, more than {limits.max_samples}")


def _inflate(r: Reader, file_size: int, limits: IndexLimits) -> Movie:
    """A compressed movie (QuickTime ``cmov``): ``dcom`` 'zlib' and ``cmvd`` -> a ``moov``."""
    method, data = None, None
    for box in r.children():
        payload = Reader.payload(r.buf, box, base=r.base)
        if box.type == b"dcom":
            method = payload.bytes(4)
        elif box.type == b"cmvd":
            size = payload.u32()
            if size > limits.max_index_bytes:
                raise IndexTooLarge(
                    f"compressed 'moov' inflates to {size} bytes, more than "
                    f"{limits.max_index_bytes}"
                )
            try:
                inflater = zlib.decompressobj()
                data = inflater.decompress(payload.rest(), size)
            except zlib.error as exc:
                raise MalformedContainer(f"compressed 'moov' does not inflate: {exc}") from exc
    if method != b"zlib" or data is None:
        raise MalformedContainer(f"compressed 'moov' with method {method!r} is not supported")
    movie = parse_moov(memoryview(data), base=0, file_size=file_size, limits=limits, inflated=True)
    movie.notes.append(
        "'moov' was compressed (QuickTime cmov); error offsets are in the inflated box"
    )
    return movie
