"""What every container index parser shares: byte ranges, needs, results, limits.

A parser does no I/O (``../shared/STYLE.md``, "Parsers do no I/O"; the shape
of gpac/mp4box.js ``ISOFile.appendBuffer``). A driver, the torrent pipeline
or :func:`torframes.containers.local.index_file`, runs this loop::

    parser = SomeIndexParser(file_size, limits)
    while not isinstance(step := parser.step(), ContainerIndex):
        for wanted in step.ranges:
            parser.feed(offset, data)     # any bytes of the file, at least ``wanted``
    index = step

``feed`` may be given more than was asked (a driver fetching whole torrent
pieces feeds them whole); a parser uses what helps and drops the rest.

Every container's parser implements this contract the same way: as one
generator task on :class:`torframes.containers.reading.TaskParser` (see
:mod:`torframes.containers`), which keeps the bytes fed and answers ``step``.
"""

from __future__ import annotations

import abc
import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from torframes.errors import IndexTooLarge

__all__ = [
    "SAMPLE_DTYPES",
    "TRACK_DTYPES",
    "ByteRange",
    "ByteStore",
    "ContainerIndex",
    "DecoderConfig",
    "IndexLimits",
    "IndexParser",
    "Located",
    "Need",
    "SampleLocator",
    "empty_samples",
    "empty_tracks",
]

MiB = 1024 * 1024

#: Column dtypes of every samples table, one row per sample (or per indexed
#: keyframe where the container's index lists only keyframes, as Matroska Cues
#: do; there ``sample`` and possibly ``size``/``dts``/``duration`` are NA).
#: ``pts``/``dts``/``duration`` are in ticks of the track's ``timescale``;
#: ``time`` is the presentation time in seconds; ``offset`` is the byte offset
#: of the sample's data in the file (not in the torrent).
SAMPLE_DTYPES: dict[str, str] = {
    "track_id": "int32",
    "sample": "Int64",
    "offset": "int64",
    "size": "Int64",
    "dts": "Int64",
    "pts": "int64",
    "duration": "Int64",
    "time": "float64",
    "is_keyframe": "bool",
    "chunk": "Int64",
}

#: Column dtypes of every tracks table, one row per track. ``codec`` is the
#: container's own code (an MP4 sample entry fourcc, a Matroska CodecID);
#: ``codec_name`` is FFmpeg's decoder name (``h264``, ``hevc``, ``av1``,
#: ``vp9``...) or ``<NA>`` when unknown. ``duration`` is in ticks of
#: ``timescale``; ``duration_s`` in seconds. ``indexed_by`` says where the
#: track's rows come from: ``"moov"`` (every sample), ``"moof"`` (every
#: sample, from the movie fragments of a fragmented MP4), ``"cues"`` (the
#: keyframes Matroska Cues list), ``"probe"`` (keyframes found by probing
#: clusters in a file without Cues) or ``"idx1"``/``"indx"`` (every chunk an
#: AVI's legacy or OpenDML index lists).
TRACK_DTYPES: dict[str, str] = {
    "track_id": "int32",
    "kind": "string",
    "codec": "string",
    "codec_name": "string",
    "width": "Int64",
    "height": "Int64",
    "timescale": "int64",
    "duration": "Int64",
    "duration_s": "float64",
    "samples": "int64",
    "keyframes": "int64",
    "language": "string",
    "indexed_by": "string",
}


def empty_samples() -> pd.DataFrame:
    """A samples table with no rows and the right dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in SAMPLE_DTYPES.items()})


def empty_tracks() -> pd.DataFrame:
    """A tracks table with no rows and the right dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in TRACK_DTYPES.items()})


@dataclass(frozen=True, slots=True, order=True)
class ByteRange:
    """The half-open byte range ``[start, stop)`` of a file."""

    start: int
    stop: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.stop < self.start:
            raise ValueError(f"invalid byte range [{self.start}, {self.stop})")

    @property
    def length(self) -> int:
        return self.stop - self.start

    def __len__(self) -> int:
        return self.stop - self.start

    def clip(self, size: int) -> ByteRange:
        """This range cut to a file of ``size`` bytes."""
        return ByteRange(min(self.start, size), min(self.stop, size))


@dataclass(frozen=True, slots=True)
class Need:
    """The bytes a parser must be fed before it can take another step.

    ``reason`` says why, for logs and for the probe's round-by-round stats
    (e.g. ``"box header at 1234"``, ``"moov [40, 90211)"``).
    """

    ranges: tuple[ByteRange, ...]
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.ranges:
            raise ValueError("a Need must name at least one byte range")

    @property
    def length(self) -> int:
        return sum(r.length for r in self.ranges)


@dataclass(frozen=True, slots=True)
class IndexLimits:
    """Bounds that keep hostile input from costing unbounded memory or time."""

    #: Largest index (``moov``, Matroska Cues) accepted, in bytes.
    max_index_bytes: int = 64 * MiB
    #: Deepest nesting of boxes / EBML elements followed.
    max_depth: int = 32
    #: Largest number of samples a table may hold (all tracks together).
    max_samples: int = 20_000_000
    #: Tail window searched by "find and validate" when headers cannot be followed.
    tail_window: int = 10 * MiB
    #: Most clusters probed in a Matroska file without Cues.
    max_cluster_probes: int = 64
    #: Largest sample (one frame's bytes) a table or locator may give.
    max_sample_bytes: int = 256 * 1024 * 1024
    #: Most bytes of the file one index parser keeps at once (what it was fed
    #: and holds on to); parsing adds one copy of the index (``max_index_bytes``).
    max_buffer_bytes: int = 80 * MiB


@dataclass(frozen=True, slots=True)
class DecoderConfig:
    """What a decoder needs to decode one track's samples on their own.

    ``codec_name`` is the FFmpeg decoder name; ``extradata`` the codec's
    out-of-band configuration in the form FFmpeg expects (``avcC``, ``hvcC``,
    ``av1C`` and ``vpcC`` payloads for MP4; CodecPrivate for Matroska).
    """

    track_id: int
    codec_name: str | None
    extradata: bytes | None
    width: int | None = None
    height: int | None = None
    #: Bytes to put before every sample's data before decoding (Matroska
    #: header stripping, ContentCompAlgo 3), or None.
    sample_prefix: bytes | None = None


@dataclass(frozen=True, slots=True)
class Located:
    """A sample's exact place, as found by a :class:`SampleLocator`."""

    offset: int
    size: int
    pts: int | None = None
    is_keyframe: bool = True


class SampleLocator(abc.ABC):
    """Finds the exact byte range of one sample the index places only roughly.

    Matroska Cues give a keyframe's cluster (and maybe the block's place in
    it) but not its size; a locator reads the block header there. Same I/O
    contract as :class:`IndexParser`: ``step()`` answers a :class:`Need` or
    the :class:`Located` sample.
    """

    @abc.abstractmethod
    def feed(self, offset: int, data: bytes | memoryview) -> None:
        """Give the locator bytes of the file, starting at ``offset``."""

    @abc.abstractmethod
    def step(self) -> Need | Located:
        """The next need, or where the sample is."""


@dataclass(frozen=True)
class ContainerIndex:
    """A parsed container index: tracks, samples and decoder configurations.

    ``index_ranges`` are the byte ranges the parser truly needed: the
    top-level headers walked on the way and the index itself (the ``moov``
    box; Matroska headers, SeekHead, Info, Tracks, Cues). They are what the
    piece floor of an index probe is made of. ``layout`` names the
    top-level structures whose place became known (``("mdat", range)``...),
    for piece maps. ``complete`` is False when ``samples`` lists only the
    keyframes the container indexes.
    """

    container: str
    tracks: pd.DataFrame
    samples: pd.DataFrame
    decoder_configs: Mapping[int, DecoderConfig]
    index_ranges: tuple[ByteRange, ...] = ()
    layout: tuple[tuple[str, ByteRange], ...] = ()
    complete: bool = True
    notes: tuple[str, ...] = field(default=())
    #: For rows whose ``size`` is NA: ``locator(row)`` makes a
    #: :class:`SampleLocator` for that samples-table row. None when every
    #: row's range is known.
    locator: Callable[[pd.Series], SampleLocator] | None = None


class IndexParser(abc.ABC):
    """An I/O-free parser that builds a :class:`ContainerIndex` from byte ranges.

    The contract drivers rely on; containers implement it by subclassing
    :class:`torframes.containers.reading.TaskParser`.
    """

    #: Short container name (``"mp4"``, ``"matroska"``).
    container: str = ""

    def __init__(self, file_size: int, limits: IndexLimits | None = None) -> None:
        if file_size < 0:
            raise ValueError("file size must not be negative")
        self.file_size = file_size
        self.limits = limits or IndexLimits()

    @abc.abstractmethod
    def feed(self, offset: int, data: bytes | memoryview) -> None:
        """Give the parser bytes of the file, starting at ``offset``."""

    @abc.abstractmethod
    def step(self) -> Need | ContainerIndex:
        """Go as far as the bytes fed allow: the next need, or the finished index.

        Raises a :class:`~torframes.errors.ContainerError` on bad input.
        """


class ByteStore:
    """Disjoint spans of a file's bytes, as fed to a parser.

    Overlapping feeds keep the bytes already held; :meth:`get` joins
    adjacent spans, so a range covered by several feeds (a ``moov`` fed
    piece by piece) can be read in one go. Adding is O(spans), never a copy
    of what is held; a ``bytes`` object kept whole is kept, not copied.
    """

    def __init__(self, file_size: int, max_bytes: int) -> None:
        self.file_size = file_size
        self.max_bytes = max_bytes
        self.held = 0
        self._starts: list[int] = []
        self._chunks: list[bytes] = []

    def add(self, offset: int, data: bytes | memoryview) -> None:
        """Keep ``data`` found at ``offset``; bytes past the end of the file are dropped."""
        if offset < 0:
            raise ValueError("offset must not be negative")
        view = memoryview(data)[: max(0, self.file_size - offset)]
        for gap in self.missing(offset, offset + len(view)):
            if self.held + gap.length > self.max_bytes:
                raise IndexTooLarge(
                    f"the parser would hold more than {self.max_bytes} bytes of the file "
                    "(IndexLimits.max_buffer_bytes)"
                )
            i = bisect.bisect_left(self._starts, gap.start)
            self._starts.insert(i, gap.start)
            whole = isinstance(data, bytes) and gap.length == len(data)
            self._chunks.insert(
                i, data if whole else bytes(view[gap.start - offset : gap.stop - offset])
            )
            self.held += gap.length

    def has(self, start: int, stop: int) -> bool:
        """True when every byte of ``[start, stop)`` is held."""
        return not self.missing(start, stop)

    def get(self, start: int, stop: int) -> memoryview | None:
        """The bytes ``[start, stop)`` if held in full, else None."""
        if stop <= start:
            return memoryview(b"")
        i = bisect.bisect_right(self._starts, start) - 1
        if i < 0:
            return None
        s, chunk = self._starts[i], self._chunks[i]
        if stop <= s + len(chunk):
            return memoryview(chunk)[start - s : stop - s]
        if start >= s + len(chunk):
            return None
        parts = [memoryview(chunk)[start - s :]]
        pos = s + len(chunk)
        while pos < stop:
            i += 1
            if i == len(self._starts) or self._starts[i] != pos:
                return None
            chunk = self._chunks[i]
            parts.append(memoryview(chunk)[: stop - pos])
            pos += len(chunk)
        return memoryview(b"".join(parts))

    def missing(self, start: int, stop: int) -> list[ByteRange]:
        """The parts of ``[start, stop)`` not held, in order."""
        gaps: list[ByteRange] = []
        pos = start
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        while pos < stop and i < len(self._starts):
            s, e = self._starts[i], self._starts[i] + len(self._chunks[i])
            if s >= stop:
                break
            if e > pos:
                if s > pos:
                    gaps.append(ByteRange(pos, s))
                pos = e
            i += 1
        if pos < stop:
            gaps.append(ByteRange(pos, stop))
        return gaps

    def discard(self, before: int) -> None:
        """Forget every byte before ``before`` (a streaming parser's memory bound)."""
        while self._starts and self._starts[0] < before:
            s, c = self._starts.pop(0), self._chunks.pop(0)
            self.held -= len(c)
            if s + len(c) > before:
                rest = c[before - s :]
                self._starts.insert(0, before)
                self._chunks.insert(0, rest)
                self.held += len(rest)
                break

    def spans(self) -> list[tuple[int, bytes]]:
        """Every held span as ``(offset, bytes)``, in file order."""
        return list(zip(self._starts, self._chunks, strict=True))
