"""The Matroska/WebM index parser: the EBML Header, the Segment's SeekHead, Info,
Tracks and Cues, in as few reads as the file's layout allows.

The reads, for a file with a SeekHead (every muxer writes one):

1. the head, ``[0, 4 KiB)``: EBML Header, Segment header, SeekHead, and
   often Info and Tracks (a torrent driver feeds the whole first piece, so
   asking for little costs nothing there and keeps unneeded pieces out);
2. one Need for every SeekHead target still missing (Info, Tracks, Cues, a
   second SeekHead): exactly its element's range when its header is held;
   for the last element placed (Cues written after the Clusters), the rest
   of the Segment when that is at most ``speculate_bytes``; otherwise a
   4 KiB peek, never running into what may be Clusters;
3. rarely, the rest of an element whose size the peek revealed.

Files without Cues are indexed by probing Clusters (:mod:`.probe`): the
first Cluster's head, then at most ``probes - 1`` more past it, within a
byte budget stated in :attr:`MatroskaIndexParser.probe_result`. The
samples table then holds keyframes only (``complete=False``): one row per
CueTrackPositions, ``offset`` at the Cluster, ``size`` NA until
``ContainerIndex.locator`` places the frame; or, for probed files, one row
per keyframe found, with its exact range.
"""

from __future__ import annotations

from itertools import chain

import pandas as pd

from torframes.containers.base import (
    ByteRange,
    ContainerIndex,
    DecoderConfig,
    IndexLimits,
    empty_samples,
)
from torframes.containers.matroska import elements as ids
from torframes.containers.matroska.codecs import decoder_config
from torframes.containers.matroska.cues import CueTable, read_cues
from torframes.containers.matroska.ebml import MAX_HEADER, Element, read_element
from torframes.containers.matroska.locate import MatroskaLocator
from torframes.containers.matroska.probe import ProbeResult, probe_keyframes
from torframes.containers.matroska.segment import (
    EbmlHeader,
    Info,
    read_ebml_header,
    read_info,
    read_seekhead,
)
from torframes.containers.matroska.tables import (
    CueRows,
    codec_delay_ticks,
    cue_samples,
    probe_samples,
    tracks_table,
)
from torframes.containers.matroska.tracks import TrackEntry, read_tracks
from torframes.containers.reading import Task, TaskParser, merge_ranges
from torframes.errors import (
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
    UnsupportedContainer,
)

__all__ = ["MatroskaIndexParser"]

KiB = 1024
MiB = 1024 * KiB

#: First read: the EBML Header, the Segment header and the elements before the Clusters.
HEAD_BYTES = 4 * KiB
#: Largest read made at a SeekHead target whose size is not known yet.
SPECULATE_BYTES = 1 * MiB
#: Read made at an element whose size is unknown when speculating would read too much.
PEEK_BYTES = 4 * KiB
#: Largest read made when walking Top-Level Elements past the head (no SeekHead
#: places them): the first is ``PEEK_BYTES``, each next one twice the last. Only
#: element headers are wanted, and the first Cluster may follow at once (a
#: wide read there fetches pieces of its payload).
WALK_BYTES = 64 * KiB
#: Largest EBML Header accepted (they are about 40 bytes).
MAX_EBML_HEADER = 4 * KiB
#: Most rounds of SeekHead following; most SeekHeads read (the schema allows 2).
MAX_ROUNDS = 8
MAX_SEEK_HEADS = 4
#: Most reads spent walking Top-Level Elements beyond the head when no SeekHead says where to go.
MAX_WALK_READS = 16
#: Probes of files without Cues: first window, and how many times it may double.
PROBE_WINDOW = 4 * KiB
PROBE_WIDENINGS = 5
#: All probes together ask for at most this share of the Clusters' span, and
#: always enough for the first Cluster's probe (``PROBE_WINDOW`` doubled
#: ``PROBE_WIDENINGS`` times).
PROBE_SHARE = 0.25

_EBML_MAGIC = ids.EBML.to_bytes(4, "big")
_INDEX_ELEMENTS = (ids.SEEK_HEAD, ids.INFO, ids.TRACKS, ids.CUES)


class MatroskaIndexParser(TaskParser):
    """Index a Matroska or WebM file from byte ranges (see the module docstring).

    ``probes`` is the number of Clusters probed in a file without Cues
    (default and maximum ``limits.max_cluster_probes``; 0 disables probing):
    the first Cluster, then the others past it. ``probe_budget`` bounds the
    bytes they ask for together (default: a quarter of the Clusters' span,
    and at least what the first Cluster's probe may read); fewer probes are
    made when it does not allow ``probe_window`` bytes each. After probing,
    :attr:`probe_result` says how many probes were made, what they asked
    for and their budget.
    """

    container = "matroska"
    what = "a Matroska file"

    def __init__(
        self,
        file_size: int,
        limits: IndexLimits | None = None,
        *,
        probes: int | None = None,
        head_bytes: int = HEAD_BYTES,
        speculate_bytes: int = SPECULATE_BYTES,
        probe_window: int = PROBE_WINDOW,
        probe_widenings: int = PROBE_WIDENINGS,
        probe_budget: int | None = None,
    ) -> None:
        super().__init__(file_size, limits)
        cap = self.limits.max_cluster_probes
        self.probes = cap if probes is None else max(0, min(probes, cap))
        self.head_bytes = max(MAX_HEADER, head_bytes)
        self.speculate_bytes = speculate_bytes
        self.probe_window = max(MAX_HEADER, probe_window)
        self.probe_widenings = max(0, probe_widenings)
        self.probe_budget = probe_budget
        # What the walk and the SeekHeads found.
        self._segment_data = 0
        self._segment_end = file_size
        self._elements: dict[int, Element] = {}
        self._seeks: dict[int, int] = {}
        self._parsed: set[int] = set()
        self._walk_pos = 0
        self._walk_done = False
        self._walk_reads = 0
        self._first_cluster: int | None = None
        self._info: Info | None = None
        self._tracks: list[TrackEntry] | None = None
        self._cues: CueTable | None = None
        self._index_ranges: list[ByteRange] = []
        self._notes: list[str] = []
        #: The Cluster probes of a file without Cues, once made (else None).
        self.probe_result: ProbeResult | None = None

    # -- the steps --------------------------------------------------------

    def _run(self) -> Task[ContainerIndex]:
        size = self.file_size
        if size < 8:
            raise TruncatedContainer(f"a {size}-byte file holds no Matroska header")
        head = min(size, self.head_bytes)
        yield from self._reads.require(
            [ByteRange(0, head)], f"EBML Header and Segment head [0, {head})"
        )
        magic = bytes(self._reads.get(0, 4))
        if magic != _EBML_MAGIC:
            raise UnsupportedContainer(f"not an EBML file: first bytes {magic.hex(' ')}")
        ebml = yield from self._header(0, size)
        if ebml.size is None or ebml.size > MAX_EBML_HEADER:
            raise MalformedContainer(f"EBML Header of size {ebml.size}", offset=0)
        if ebml.end > size:
            raise TruncatedContainer("EBML Header runs past the end of the file", offset=0)
        body = yield from self._reads.bytes(ebml.data, ebml.end, "EBML Header")
        header = read_ebml_header(body, ebml.data)
        self._index_ranges.append(ByteRange(0, ebml.end))
        segment = yield from self._segment(ebml.end)
        yield from self._read_index_elements()
        if self._tracks is None:
            raise MalformedContainer(
                "no Tracks element found before the Clusters or by the SeekHead"
            )
        if not self._tracks:
            raise MalformedContainer("Tracks without any TrackEntry")
        if self._info is None:
            self._notes.append("no Info element found: TimestampScale taken as 1 ms")
        return (yield from self._index(header, ebml, segment))

    def _header(self, pos: int, limit: int) -> Task[Element]:
        """The element header at ``pos``, asked for exactly if not held."""
        if pos >= limit:
            raise TruncatedContainer("file ends where an element should start", offset=pos)
        stop = min(pos + MAX_HEADER, limit)
        yield from self._reads.require([ByteRange(pos, stop)], f"element header at {pos}")
        return read_element(self._reads.get(pos, stop), 0, pos)

    def _held_header(self, pos: int, limit: int) -> Element | None:
        """The element header at ``pos`` if its bytes are held, else None."""
        if pos >= limit:
            raise TruncatedContainer("element expected past its parent's end", offset=pos)
        stop = min(pos + MAX_HEADER, limit)
        extent = self._reads.extent(pos, stop)
        try:
            return read_element(self._reads.get(pos, extent), 0, pos)
        except TruncatedContainer:
            if extent >= stop:
                raise
            return None

    def _segment(self, pos: int) -> Task[Element]:
        """The Segment header, after any Void or CRC-32 following the EBML Header."""
        size = self.file_size
        for _ in range(16):
            element = yield from self._header(pos, size)
            if element.id == ids.SEGMENT:
                break
            if element.id not in (ids.VOID, ids.CRC32) or element.size is None:
                raise MalformedContainer(
                    f"expected a Segment after the EBML Header, found {ids.name_of(element.id)}",
                    offset=pos,
                )
            pos = element.end
        else:
            raise MalformedContainer("no Segment after the EBML Header", offset=pos)
        if element.size is not None and element.end > size:
            raise TruncatedContainer(
                f"Segment of {element.size} bytes runs past the end of the file", offset=pos
            )
        self._segment_data = self._walk_pos = element.data
        self._segment_end = size if element.size is None else element.end
        self._index_ranges.append(ByteRange(element.start, element.data))
        return element

    def _read_index_elements(self) -> Task[None]:
        """Walk the held Top-Level Elements, follow the SeekHeads, read Info, Tracks and Cues."""
        for _ in range(MAX_ROUNDS):
            self._walk_held()
            self._parse_held()
            wanted = self._wanted()
            if not wanted:
                return
            need = self._reads.need(wanted, self._reason(wanted))
            if need is not None:
                yield need
        self._notes.append(f"gave up following SeekHeads after {MAX_ROUNDS} rounds")

    def _reason(self, wanted: list[ByteRange]) -> str:
        names = []
        for r in wanted:
            element_id = self._seeks.get(r.start) or getattr(
                self._elements.get(r.start), "id", None
            )
            names.append(f"{ids.name_of(element_id) if element_id else 'walk'} {r.start}")
        return "Matroska index elements: " + ", ".join(names)

    def _walk_held(self) -> None:
        """Record the Top-Level Elements whose headers are held, up to the first Cluster."""
        while not self._walk_done:
            pos = self._walk_pos
            if pos >= self._segment_end:
                self._walk_done = True
                return
            element = self._held_header(pos, self._segment_end)
            if element is None:
                return
            self._note(element)
            if element.id == ids.CLUSTER:
                self._first_cluster = pos
                self._walk_done = True
                return
            self._walk_pos = element.end

    def _note(self, element: Element) -> None:
        """Keep a Top-Level Element's place, after checking it fits in the Segment."""
        if element.size is None:
            if element.id != ids.CLUSTER:
                raise MalformedContainer(
                    f"{ids.name_of(element.id)} of unknown size", offset=element.start
                )
        elif element.end > self._segment_end:
            raise MalformedContainer(
                f"{ids.name_of(element.id)} of {element.size} bytes overruns the Segment",
                offset=element.start,
            )
        length = element.end - element.start
        if element.id in _INDEX_ELEMENTS and length > self.limits.max_index_bytes:
            raise IndexTooLarge(
                f"{ids.name_of(element.id)} of {length} bytes is over the "
                f"{self.limits.max_index_bytes}-byte limit",
                offset=element.start,
            )
        self._elements.setdefault(element.start, element)

    def _parse_held(self) -> None:
        """Read every SeekHead, Info, Tracks and Cues element held in full and not read yet."""
        for start in sorted(self._elements):
            element = self._elements[start]
            if start in self._parsed or element.id not in _INDEX_ELEMENTS:
                continue
            if not self._reads.has(element.start, element.end):
                continue
            self._parsed.add(start)
            body = self._reads.get(element.data, element.end)
            if element.id == ids.SEEK_HEAD:
                self._read_seekhead(element, body)
            elif element.id == ids.INFO and self._info is None:
                self._info = read_info(body, element.data)
            elif element.id == ids.TRACKS and self._tracks is None:
                self._tracks = read_tracks(body, element.data, self.limits)
            elif element.id == ids.CUES and self._cues is None:
                self._cues = read_cues(body, element.data, self.limits)
            else:
                continue
            self._index_ranges.append(ByteRange(element.start, element.end))

    def _read_seekhead(self, element: Element, body: memoryview) -> None:
        """Keep the places of the Top-Level Elements a SeekHead lists.

        Entries for the elements read here must point inside the Segment; a
        SeekHead listing itself or a loop of SeekHeads is read once each.
        """
        if sum(self._elements[s].id == ids.SEEK_HEAD for s in self._parsed) > MAX_SEEK_HEADS:
            raise MalformedContainer(f"more than {MAX_SEEK_HEADS} SeekHeads", offset=element.start)
        for entry in read_seekhead(body, element.data):
            pos = self._segment_data + entry.position
            if pos >= self._segment_end:
                if entry.element_id in _INDEX_ELEMENTS:
                    raise MalformedContainer(
                        f"SeekHead places {ids.name_of(entry.element_id)} past the Segment",
                        offset=element.start,
                    )
                continue
            self._seeks.setdefault(pos, entry.element_id)

    def _missing(self) -> set[int]:
        """The index elements still to be read."""
        missing = set()
        if self._info is None:
            missing.add(ids.INFO)
        if self._tracks is None:
            missing.add(ids.TRACKS)
        if self._cues is None:
            missing.add(ids.CUES)
        return missing

    def _wanted(self) -> list[ByteRange]:
        """The ranges to read next: SeekHead targets and walked elements not held, or more walk."""
        missing = self._missing()
        if not missing:
            return []
        wanted: list[ByteRange] = []
        places = {s: e.id for s, e in self._elements.items() if e.id in _INDEX_ELEMENTS}
        for pos, element_id in self._seeks.items():
            known = self._elements.get(pos)
            if known is not None and known.id != element_id and element_id in _INDEX_ELEMENTS:
                raise MalformedContainer(
                    f"SeekHead places {ids.name_of(element_id)} where {ids.name_of(known.id)} is",
                    offset=pos,
                )
            places.setdefault(pos, element_id)
        for pos, element_id in sorted(places.items()):
            if pos in self._parsed or (element_id not in missing and element_id != ids.SEEK_HEAD):
                continue
            element = self._elements.get(pos) or self._held_header(pos, self._segment_end)
            if element is None:
                wanted.append(self._speculate(pos))
                continue
            if element.id != element_id:
                raise MalformedContainer(
                    f"SeekHead places {ids.name_of(element_id)} where {ids.name_of(element.id)} is",
                    offset=pos,
                )
            self._note(element)
            wanted.append(ByteRange(pos, element.end))
        pending = {places[r.start] for r in wanted if r.start in places}
        if self._walk_wanted(missing, pending):
            size = min(WALK_BYTES, PEEK_BYTES << self._walk_reads)
            self._walk_reads += 1
            stop = min(self._segment_end, self._walk_pos + size)
            wanted.append(ByteRange(self._walk_pos, stop))
        return wanted

    def _walk_wanted(self, missing: set[int], pending: set[int]) -> bool:
        """Whether to walk on past the head: an element is missing and no SeekHead places it.

        Probing a file without Cues also needs the first Cluster's place.
        """
        if self._walk_done or ids.SEEK_HEAD in pending:
            return False
        if self._walk_reads >= MAX_WALK_READS:
            self._walk_done = True
            self._notes.append(f"stopped walking Top-Level Elements after {MAX_WALK_READS} reads")
            return False
        if (missing - pending) & {ids.INFO, ids.TRACKS}:
            return True
        return ids.CUES in missing and ids.CUES not in pending and self._first_cluster is None

    def _speculate(self, pos: int) -> ByteRange:
        """The range to read at an element whose header is not held yet.

        The last element placed (Cues written after the Clusters) is read to
        the end of the Segment when that is at most ``speculate_bytes``: one
        round instead of two. Any other element gets a small peek: what lies
        between it and the next element placed may be Clusters (mkvmerge
        leaves a Void after its SeekHead, so Info and Tracks start past the
        head and the next element it places is the Cues at the end).
        """
        later = [p for p in chain(self._elements, self._seeks) if p > pos]
        if not later and self._segment_end - pos <= self.speculate_bytes:
            return ByteRange(pos, self._segment_end)
        bound = min([*later, self._segment_end])
        return ByteRange(pos, min(bound, pos + PEEK_BYTES))

    # -- the result -------------------------------------------------------

    def _index(self, header: EbmlHeader, ebml: Element, segment: Element) -> Task[ContainerIndex]:
        info = self._info or Info()
        tracks = sorted(self._tracks or [], key=lambda t: t.number)
        configs: dict[int, DecoderConfig] = {}
        for track in tracks:
            configs[track.number], notes = decoder_config(track)
            self._notes.extend(notes)
            if track.track_timestamp_scale != 1.0:
                self._notes.append(f"track {track.number}: TrackTimestampScale ignored")
        if 1_000_000_000 % info.timestamp_scale:
            self._notes.append(f"TimestampScale {info.timestamp_scale} ns: timescale rounded")
        indexed_by: dict[int, str] = {}
        parts: list[pd.DataFrame] = []
        cue_rows: CueRows | None = None
        main = _main_track(tracks)
        if self._cues is not None:
            samples, cue_rows, dropped = cue_samples(
                self._cues, tracks, self._segment_data, self._segment_end, info
            )
            if dropped:
                self._notes.append(
                    f"{dropped} cue points dropped: unknown track or past the Segment"
                )
            if self._first_cluster is None and len(samples):
                self._first_cluster = int(samples["offset"].min())
            parts.append(samples)
            indexed_by = dict.fromkeys((t.number for t in tracks), "cues")
        clusters_end = self._clusters_end()
        if main is not None and (
            self._cues is None or not (parts[0]["track_id"] == main.number).any()
        ):
            probed = yield from self._probe(main, info, clusters_end)
            if probed is not None:
                parts.append(probed)
                indexed_by[main.number] = "probe"
        samples = _concat(parts)
        counts = samples["track_id"].value_counts().to_dict()
        table = tracks_table(tracks, info, configs, counts, indexed_by)
        delays = {t.number: codec_delay_ticks(t, info) for t in tracks}
        return ContainerIndex(
            container=header.doc_type,
            tracks=table,
            samples=samples,
            decoder_configs=configs,
            index_ranges=merge_ranges(self._index_ranges),
            layout=self._layout(ebml, segment, clusters_end),
            complete=False,
            notes=tuple(self._notes),
            locator=MatroskaLocator(
                self.file_size, self._segment_end, self.limits, delays, cue_rows
            ),
        )

    def _probe(self, track: TrackEntry, info: Info, stop: int) -> Task[pd.DataFrame | None]:
        """Keyframes of ``track`` found by probing Clusters (no Cues, or none for this track)."""
        why = "no Cues" if self._cues is None else f"Cues list no keyframe of track {track.number}"
        if self._first_cluster is None:
            self._notes.append(f"{why}, and no Cluster found to probe")
            return None
        if self.probes == 0:
            self._notes.append(f"{why}; probing disabled")
            return None
        budget = self.probe_budget
        if budget is None:
            first = self.probe_window * ((1 << (self.probe_widenings + 1)) - 1)
            budget = max(int((stop - self._first_cluster) * PROBE_SHARE), first)
        result = yield from probe_keyframes(
            self._reads,
            self._first_cluster,
            stop,
            track.number,
            count=self.probes,
            window=self.probe_window,
            widenings=self.probe_widenings,
            budget=budget,
            max_sample=self.limits.max_sample_bytes,
        )
        self.probe_result = result
        self._index_ranges.extend(result.used)
        self._notes.append(
            f"{why}: keyframes of track {track.number} found by probing {result.probes} Clusters "
            f"({len(result.found)} found, {result.failed} probes found none; "
            f"{result.asked_bytes} bytes asked of a {result.budget}-byte budget)"
        )
        start = result.first
        if start is None or not start.first or start.cluster != self._first_cluster:
            start = None
        samples, dropped = probe_samples(result.found, track, info, start)
        if start is not None and not start.has_time:
            self._notes.append(
                f"track {track.number}: its first keyframe's Cluster and block timestamps add "
                f"up to {start.timestamp} (negative): FFmpeg gives it no timestamp and starts "
                "the stream at 0, as here"
            )
        if dropped:
            self._notes.append(
                f"{dropped} probed keyframes of track {track.number} dropped: their timestamps "
                "are negative, and FFmpeg gives them none"
            )
        return samples

    def _clusters_end(self) -> int:
        """Where the Clusters end: the next element placed after them, else the Segment's end."""
        first = self._first_cluster
        if first is None:
            return self._segment_end
        later = [s for s, e in self._elements.items() if s > first and e.id != ids.CLUSTER]
        later += [s for s, i in self._seeks.items() if s > first and i != ids.CLUSTER]
        return min([*later, self._segment_end])

    def _layout(
        self, ebml: Element, segment: Element, clusters_end: int
    ) -> tuple[tuple[str, ByteRange], ...]:
        layout = [
            ("EBML", ByteRange(0, ebml.end)),
            ("Segment", ByteRange(segment.start, self._segment_end)),
        ]
        for start in sorted(self._elements):
            element = self._elements[start]
            if element.size is not None:
                layout.append((ids.name_of(element.id), ByteRange(start, element.end)))
        if self._first_cluster is not None:
            layout.append(("Clusters", ByteRange(self._first_cluster, clusters_end)))
        return tuple(layout)


def _main_track(tracks: list[TrackEntry]) -> TrackEntry | None:
    """The track whose keyframes matter most: the default enabled video track, else the first."""
    videos = [t for t in tracks if t.kind == "video"]
    ranked = sorted(
        videos or tracks, key=lambda t: (not t.flag_enabled, not t.flag_default, t.number)
    )
    return ranked[0] if ranked else None


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_samples()
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    samples = pd.concat(parts, ignore_index=True)
    return samples.sort_values(["track_id", "pts"], kind="stable", ignore_index=True)
