"""The MPEG transport stream "index": PAT, PMT, first and last PTS, and keyframes searched for.

A transport stream (ISO/IEC 13818-1 §2.4) has no index. What the parser reads:

1. the head, ``[0, 64 KiB)`` (wider, a bounded number of times, if it must):
   the PAT and the PMT (:mod:`.psi`), the video stream's first keyframe,
   whose PTS is time 0 of the tables, and the parameter sets before it
   (the decoder's configuration, :mod:`.codecs`);
2. the tail, ``[size - 64 KiB, size)`` (wider if it must): the last PTS,
   hence the duration;
3. one search per wanted time (:mod:`.search`): ``searches`` times (the
   picks, ``IndexLimits.max_cluster_probes``), at the middle of ``searches``
   equal slices of the duration (where ``select(n, "even")`` looks), each
   bounded in reads and bytes; then each keyframe's span, up to the next
   frame's first packet.

The samples table lists the keyframes found (``complete=False``,
``sample`` NA), with ``offset`` at the frame's first packet (FFmpeg's
``packet.pos``) and ``size`` the span to the next frame's first packet
(packets of other streams included: :class:`.config.TsDecoderConfig`
takes the frame out). ``pts``/``dts`` are in 90 kHz ticks, counted on
across a 33-bit wrap; ``time`` is seconds past the first keyframe's PTS.
"""

from __future__ import annotations

import itertools

import pandas as pd

from torframes.containers.base import (
    SAMPLE_DTYPES,
    TRACK_DTYPES,
    ByteRange,
    ContainerIndex,
    DecoderConfig,
    IndexLimits,
)
from torframes.containers.reading import Task, TaskParser, merge_ranges
from torframes.containers.ts.codecs import (
    VIDEO_CODECS,
    parameter_sets,
    picture_size,
    stream_codec,
)
from torframes.containers.ts.config import TsDecoderConfig
from torframes.containers.ts.packets import PacketFormat, detect_format, find_sync, read_packet
from torframes.containers.ts.psi import (
    ElementaryStream,
    ProgramMap,
    SectionReader,
    read_pat,
    read_pmt,
)
from torframes.containers.ts.scan import UnitStart, access_unit, unit_starts
from torframes.containers.ts.search import (
    SearchBudget,
    Stream,
    find_keyframe,
    frame_end,
    side_by_side,
)
from torframes.errors import MalformedContainer, TruncatedContainer, UnsupportedContainer

__all__ = ["SearchResult", "TsIndexParser"]

KiB = 1024
MiB = 1024 * KiB

#: First read at the head and at the tail; each further read doubles, at most ``EDGE_READS``.
EDGE_BYTES = 64 * KiB
EDGE_READS = 6
#: First window of a search's probes, and of the read to a keyframe's end.
SEARCH_WINDOW = 16 * KiB
#: Defaults of ``Settings.ts_search_reads`` and ``Settings.ts_search_bytes``.
SEARCH_READS = 24
SEARCH_BYTES = 4 * MiB
#: PTS ticks per second (§2.4.3.7: a 90 kHz clock).
PTS_RATE = 90_000


class SearchResult:
    """What the keyframe searches cost: the shape :func:`torframes.api.probe.probe_index` reports.

    ``probes`` searches were made, ``failed`` of them ran out of budget;
    ``budget`` is the bytes they could ask for together, ``asked`` the
    ranges they asked for (``asked_bytes`` in all).
    """

    def __init__(
        self, probes: int, failed: int, budget: int, asked: tuple[ByteRange, ...], reads: int
    ) -> None:
        self.probes, self.failed, self.budget, self.asked = probes, failed, budget, asked
        self.reads = reads

    @property
    def asked_bytes(self) -> int:
        return sum(r.length for r in self.asked)


class TsIndexParser(TaskParser):
    """Index an MPEG transport stream (188-byte) or M2TS (192-byte) file; see the module docstring.

    ``searches`` is the number of times searched for (default and maximum
    ``limits.max_cluster_probes``; 0: the first keyframe only);
    ``search_reads`` and ``search_bytes`` bound each search. After the
    searches, :attr:`probe_result` says what they cost.
    """

    container = "mpegts"
    what = "a transport stream"

    def __init__(
        self,
        file_size: int,
        limits: IndexLimits | None = None,
        *,
        searches: int | None = None,
        search_reads: int = SEARCH_READS,
        search_bytes: int = SEARCH_BYTES,
        window: int = SEARCH_WINDOW,
    ) -> None:
        super().__init__(file_size, limits)
        cap = self.limits.max_cluster_probes
        self.searches = cap if searches is None else max(0, min(searches, cap))
        self.search_reads = max(1, search_reads)
        self.search_bytes = max(window, search_bytes)
        self.window = window
        self._ranges: list[ByteRange] = []
        self._notes: list[str] = []
        #: The keyframe searches, once made (else None).
        self.probe_result: SearchResult | None = None

    # -- the steps --------------------------------------------------------

    def _run(self) -> Task[ContainerIndex]:
        size = self.file_size
        if size < 2 * 188:
            raise TruncatedContainer(f"a {size}-byte file holds no transport stream")
        head = yield from self._edge(0, "head")
        fmt = detect_format(head)
        if fmt is None:
            raise UnsupportedContainer("not a transport stream: no packet sync at the start")
        self.container = fmt.name
        pmt, head = yield from self._program(fmt, head)
        video = _video_stream(pmt)
        if video is None:
            self._notes.extend(
                f"video stream of PID {es.pid} ({codec}) not searched: keyframes are found in "
                "H.264, HEVC and MPEG-1/2 video only"
                for es in pmt.streams
                for kind, codec in [stream_codec(es.stream_type, es.registration(), es.tags())]
                if kind == "video"
            )
        configs: dict[int, DecoderConfig] = {}
        rows: list[UnitStart] = []
        ends: list[int] = []
        stream: Stream | None = None
        duration: int | None = None
        if video is not None:
            codec = stream_codec(video.stream_type, video.registration(), video.tags())[1]
            assert codec is not None
            first, head = yield from self._first_keyframe(fmt, video.pid, codec, head)
            stream = Stream(fmt, video.pid, codec, first.pts, size)
            extradata = parameter_sets(codec, access_unit(head[first.offset :], fmt, video.pid))
            width, height = picture_size(codec, extradata)
            configs[video.pid] = TsDecoderConfig(
                track_id=video.pid,
                codec_name=codec,
                extradata=extradata,
                width=width,
                height=height,
                pid=video.pid,
                packet_size=fmt.size,
            )
            duration = yield from self._duration(stream)
            rows = yield from self._search(stream, first, duration)
            ends = yield from self._ends(stream, rows)
        return ContainerIndex(
            container=fmt.name,
            tracks=_tracks(pmt, configs, stream, duration, len(rows)),
            samples=_samples(stream, rows, ends),
            decoder_configs=configs,
            index_ranges=merge_ranges(self._ranges),
            layout=(("packets", ByteRange(0, size)),),
            complete=False,
            notes=tuple(self._notes),
        )

    def _edge(self, times: int, what: str, *, tail: bool = False) -> Task[bytes]:
        """The head ``[0, n)`` or the tail ``[size - n, size)``, n = EDGE_BYTES << times."""
        n = min(self.file_size, EDGE_BYTES << times)
        r = ByteRange(self.file_size - n, self.file_size) if tail else ByteRange(0, n)
        yield from self._reads.require((r,), f"transport stream {what} [{r.start}, {r.stop})")
        self._ranges.append(r)
        return bytes(self._reads.get(r.start, r.stop))

    def _program(self, fmt: PacketFormat, head: bytes) -> Task[tuple[ProgramMap, bytes]]:
        """The PMT of the PAT's first program, reading a wider head as long as allowed."""
        for times in range(EDGE_READS):
            if times:
                head = yield from self._edge(times, "head")
            pmt = _find_program(head, fmt)
            if pmt is not None:
                return pmt, head
            if len(head) >= self.file_size:
                break
        raise MalformedContainer(f"no PAT and PMT in the first {len(head)} bytes")

    def _first_keyframe(
        self, fmt: PacketFormat, pid: int, codec: str, head: bytes
    ) -> Task[tuple[UnitStart, bytes]]:
        """The stream's first keyframe whose frame ends in the head read (widened as allowed)."""
        for times in range(EDGE_READS):
            if times:
                head = yield from self._edge(times, "head")
            units = unit_starts(head, 0, fmt, pid, codec)
            for i, unit in enumerate(units):
                if unit.key and (i + 1 < len(units) or len(head) >= self.file_size):
                    return unit, head
            if len(head) >= self.file_size:
                break
        raise MalformedContainer(f"no keyframe of PID {pid} in the first {len(head)} bytes")

    def _duration(self, stream: Stream) -> Task[int | None]:
        """Ticks from the first keyframe's PTS to the end of the last frame (from the tail)."""
        for times in range(EDGE_READS):
            tail = yield from self._edge(times, "tail", tail=True)
            base = self.file_size - len(tail)
            units = unit_starts(tail, base, stream.fmt, stream.pid, stream.codec)
            if units:
                ticks = sorted(stream.ticks(u.pts) for u in units)
                steps = [b - a for a, b in itertools.pairwise(ticks) if b > a]
                return ticks[-1] + (min(steps) if steps else 0)
            if base == 0:
                break
        self._notes.append("no PTS of the video stream found at the tail: duration unknown")
        return None

    def _search(
        self, stream: Stream, first: UnitStart, duration: int | None
    ) -> Task[list[UnitStart]]:
        """The first keyframe and the keyframes at or before the middle of ``searches`` slices."""
        found = {first.offset: first}
        if not self.searches or not duration:
            return [first]
        targets = [duration * (2 * i + 1) // (2 * self.searches) for i in range(self.searches)]
        budgets = [
            SearchBudget(
                self._reads,
                self.search_reads,
                self.search_bytes,
                f"search for {t / PTS_RATE:.3f} s",
            )
            for t in targets
        ]
        tasks = [
            find_keyframe(
                stream, b, t, first, end_ticks=duration, window=self.window, notes=self._notes
            )
            for b, t in zip(budgets, targets, strict=True)
        ]
        results = yield from side_by_side(tasks, lambda n: f"{n} keyframe searches")
        for unit in results:
            assert isinstance(unit, UnitStart)
            found.setdefault(unit.offset, unit)
        asked = merge_ranges(r for b in budgets for r in b.asked)
        self._ranges.extend(r for b in budgets for r in b.touched)
        self.probe_result = SearchResult(
            probes=len(targets),
            failed=sum(b.exhausted for b in budgets),
            budget=self.search_bytes * len(targets),
            asked=asked,
            reads=sum(b.count for b in budgets),
        )
        self._notes.append(
            f"no index in a transport stream: {len(targets)} keyframe searches by bisection on PTS "
            f"({len(found)} keyframes found; {self.probe_result.asked_bytes} bytes asked of a "
            f"{self.probe_result.budget}-byte budget)"
        )
        return sorted(found.values(), key=lambda u: u.offset)

    def _ends(self, stream: Stream, rows: list[UnitStart]) -> Task[list[int]]:
        """Where each keyframe's span ends (the next frame's first packet)."""
        tasks = [
            frame_end(
                stream, self._reads, u, window=self.window, limit=self.limits.max_sample_bytes
            )
            for u in rows
        ]
        ends = yield from side_by_side(tasks, lambda n: f"{n} keyframes' ends")
        for unit, end in zip(rows, ends, strict=True):
            self._ranges.append(ByteRange(unit.offset, int(end)))  # type: ignore[call-overload]
        return [int(e) for e in ends]  # type: ignore[call-overload]


def _find_program(head: bytes, fmt: PacketFormat) -> ProgramMap | None:
    """The PMT of the PAT's first program, if both sections are whole in ``head``."""
    pat_reader, pmt_reader = SectionReader(0), None
    programs: dict[int, int] | None = None
    pos = find_sync(head, fmt)
    while pos is not None and pos + fmt.size <= len(head):
        if head[pos + fmt.prefix] != 0x47:
            pos = find_sync(head, fmt, pos + 1)
            continue
        h = read_packet(head, pos, fmt)
        payload = head[pos + h.payload : pos + fmt.size]
        if h.error or not payload:
            pass
        elif programs is None and h.pid == 0:
            section = pat_reader.add(payload, h.unit_start, pos)
            if section is not None:
                programs = read_pat(section, pos)
                if not programs:
                    raise MalformedContainer("PAT lists no program", offset=pos)
                pmt_reader = SectionReader(programs[min(programs)])
        elif pmt_reader is not None and h.pid == pmt_reader.pid:
            section = pmt_reader.add(payload, h.unit_start, pos)
            if section is not None:
                return read_pmt(section, pos)
        pos += fmt.size
    return None


def _video_stream(pmt: ProgramMap) -> ElementaryStream | None:
    """The program's first video stream of a codec whose keyframes are found here, else None."""
    for es in pmt.streams:
        kind, codec = stream_codec(es.stream_type, es.registration(), es.tags())
        if kind == "video" and codec in VIDEO_CODECS.values():
            return es
    return None


def _tracks(
    pmt: ProgramMap,
    configs: dict[int, DecoderConfig],
    stream: Stream | None,
    duration: int | None,
    keyframes: int,
) -> pd.DataFrame:
    rows = []
    for es in pmt.streams:
        kind, codec = stream_codec(es.stream_type, es.registration(), es.tags())
        config = configs.get(es.pid)
        main = stream is not None and es.pid == stream.pid
        rows.append(
            {
                "track_id": es.pid,
                "kind": kind,
                "codec": f"0x{es.stream_type:02x}",
                "codec_name": codec,
                "width": config.width if config else None,
                "height": config.height if config else None,
                "timescale": PTS_RATE,
                "duration": duration if main else None,
                "duration_s": duration / PTS_RATE if main and duration else float("nan"),
                "samples": keyframes if main else 0,
                "keyframes": keyframes if main else 0,
                "language": es.language(),
                "indexed_by": "search" if main else None,
            }
        )
    table = pd.DataFrame(rows, columns=list(TRACK_DTYPES))
    return table.astype(TRACK_DTYPES)


def _samples(stream: Stream | None, rows: list[UnitStart], ends: list[int]) -> pd.DataFrame:
    if stream is None:
        rows, ends = [], []
    pts = [stream.start_pts + stream.ticks(u.pts) for u in rows] if stream else []
    dts = [stream.start_pts + stream.ticks(u.dts) for u in rows] if stream else []
    table = pd.DataFrame(
        {
            "track_id": [stream.pid if stream else 0] * len(rows),
            "sample": [None] * len(rows),
            "offset": [u.offset for u in rows],
            "size": [e - u.offset for u, e in zip(rows, ends, strict=True)],
            "dts": dts,
            "pts": pts,
            "duration": [None] * len(rows),
            "time": [(p - stream.start_pts) / PTS_RATE for p in pts] if stream else [],
            "is_keyframe": [True] * len(rows),
            "chunk": [None] * len(rows),
        },
        columns=list(SAMPLE_DTYPES),
    )
    return table.astype(SAMPLE_DTYPES)
