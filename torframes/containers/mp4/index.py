"""The MP4/MOV index parser: fed byte ranges, answers with a need or the index.

Written as one generator task (:data:`~torframes.containers.reading.Task`)
that yields a :class:`~torframes.containers.base.Need` whenever the bytes
held do not suffice, driven by a
:class:`~torframes.containers.reading.Runner`, as every container is.

Round trips are what cost in a swarm (each need is whole pieces, fetched
from peers), so each :class:`~torframes.containers.base.Need` asks for all
that the next step can use:

1. The head: ``[0, 64 KiB)``, or the part of it not held yet (sniffing
   already fed the first 64 bytes). The top-level headers are walked from
   whatever is held; near the head a missing header is asked for together
   with the rest of the first 64 KiB.
2. A header lying past the held bytes right after an ``mdat`` is most
   likely ``moov`` at the tail: ask for everything from there to the end of
   the file in one go when that is no more than the index cap
   (``IndexLimits.max_index_bytes``, and the parser's buffer), else just the
   16-byte header. When it
   arrives and is not ``moov`` the walk goes on; ``moov`` shorter than the
   span is fine.
3. A header reveals ``moov`` at ``[a, b)``: ask for all of what is missing
   of it at once, then parse.

So a file with ``moov`` at the head or at the tail takes at most two needs
(sniffing aside). When the chain of headers cannot be followed, "find and
validate" (:mod:`torframes.containers.mp4.find`) searches the held bytes,
then windows of ``IndexLimits.tail_window`` bytes from the end of the file
back, up to ``max_index_bytes + tail_window`` bytes, for a ``moov`` that
parses; a ``moov`` larger than a window works, the rest of it is asked for.

4. A fragmented file (``mvex`` in ``moov``) goes on to its movie
   fragments: :class:`~torframes.containers.mp4.fragment_walk.FragmentWalk`
   asks for the ``moof`` boxes only (never the media), every position it
   can place at once: all subsegments of a ``sidx`` in one need, all
   fragments an ``mfra`` lists in one need (its ``mfro`` is read from the
   last 16 bytes when walking looks long), else one position after the
   other along the chain of headers, so a plain walk takes about one
   round per fragment beyond the head (two when needs are read exactly).

``index_ranges`` of the result are the top-level headers walked plus the
``moov`` box, and for a fragmented file every top-level header after it,
every ``moof`` and the ``sidx``/``mfra`` read: what was truly needed.
``layout`` names every top-level box whose place became known, including
those the held bytes show past ``moov`` at no extra cost. A ``moof``
before any ``moov`` (a media segment without its initialization segment)
is unsupported.

Memory: the parser holds at most ``IndexLimits.max_buffer_bytes`` of the
file's bytes, under the rule of :class:`~torframes.containers.reading.Reads`
(both its soft budget and its hard cap): fed more than fits, it forgets
all but what the last need asked for and the ``moov`` box (in a fragmented
file, what :meth:`~torframes.containers.mp4.fragment_walk.FragmentWalk.still_helps`
names); a ``moov`` larger than the buffer (or than ``max_index_bytes``) is
:class:`~torframes.errors.IndexTooLarge` before any of it is asked for.
Parsing works on one joined copy of ``moov``.

Errors: every reader checks what it reads and raises the project's
:class:`~torframes.errors.ContainerError` itself; the runner turns no
other exception into a container error (``internal_errors``), so a
reader that forgot a check shows up as the bug it is. A file that ends
inside a top-level box it declares is
:class:`~torframes.errors.TruncatedContainer` when that leaves no
``moov`` or puts samples past its end; tables that are well formed box by
box but absurd together (a scrambled ``moov``) are rejected by
:mod:`~torframes.containers.mp4.plausible`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torframes.containers.base import ByteRange, ContainerIndex, IndexLimits, Need
from torframes.containers.mp4.boxes import BoxHeader
from torframes.containers.mp4.build import build_index
from torframes.containers.mp4.find import find_moov_headers, validate_moov
from torframes.containers.mp4.fragment_walk import FragmentLayout, FragmentWalk
from torframes.containers.mp4.moov import Movie, parse_moov
from torframes.containers.mp4.walk import Broken, read_top_header, walk_held
from torframes.containers.reading import Spans, Task, TaskParser, merge_ranges
from torframes.errors import (
    ContainerError,
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
    UnsupportedContainer,
)

__all__ = ["HEAD_BYTES", "MAX_TOP_LEVEL_BOXES", "Mp4IndexParser"]

#: The head asked for first, and the region where missing headers are asked with it.
HEAD_BYTES = 64 * 1024
#: Top-level boxes walked before giving up on the chain and searching instead.
MAX_TOP_LEVEL_BOXES = 4096
#: Bytes asked for a lone header beyond the head.
HEADER_BYTES = 16
#: How far back a search steps beyond a window, to catch a header cut by its edge.
_OVERLAP = 16


@dataclass
class _Search:
    """State of "find and validate"."""

    reason: str
    low: int
    limit: int
    candidates: list[BoxHeader] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    rejected: list[str] = field(default_factory=list)
    too_large: list[BoxHeader] = field(default_factory=list)


class Mp4IndexParser(TaskParser):
    """Index an MP4/MOV file (ISO/IEC 14496-12, QuickTime) from its ``moov`` box.

    Pure: no I/O. Feed it any bytes of the file (:meth:`feed`), in any
    order and more than asked if convenient; :meth:`step` answers with the
    next :class:`~torframes.containers.base.Need` or the finished
    :class:`~torframes.containers.base.ContainerIndex`.
    """

    container = "mp4"
    what = "an MP4 file"
    internal_errors = False

    def __init__(self, file_size: int, limits: IndexLimits | None = None) -> None:
        budget = (limits or IndexLimits()).max_buffer_bytes
        super().__init__(file_size, limits, soft_budget=budget, max_bytes=budget)
        self._reads.keep = self._still_helps
        limits = self.limits
        #: The largest ``moov`` taken: it must fit the index cap and the buffer.
        self._moov_cap = min(limits.max_index_bytes, limits.max_buffer_bytes)
        self._cap_name = (
            "max_index_bytes"
            if limits.max_index_bytes <= limits.max_buffer_bytes
            else "max_buffer_bytes"
        )
        self._walked: list[BoxHeader] = []
        self._moov: BoxHeader | None = None
        self._fragments: FragmentWalk | None = None
        #: A top-level box found running past the end of the file (truncation).
        self._cut: BoxHeader | None = None

    def _still_helps(self, spans: Spans) -> list[ByteRange]:
        """Held bytes worth keeping under memory pressure: the last need and ``moov``."""
        if self._fragments is not None:
            return self._fragments.still_helps(spans)
        moov = self._moov
        return [*self._reads.asked, *([] if moov is None else [ByteRange(moov.start, moov.end)])]

    # -- the task ----------------------------------------------------------

    def _run(self) -> Task[ContainerIndex]:
        placed = yield from self._walk()
        search: _Search | None = None
        if isinstance(placed, BoxHeader):
            moov = placed
            reason = f"moov [{moov.start}, {moov.end})"
            data = yield from self._reads.bytes(moov.start, moov.end, reason)
            movie = parse_moov(data, base=moov.start, file_size=self.file_size, limits=self.limits)
        else:
            search = self._start_search(placed)
            moov, movie = yield from self._find(search)
        fragments: FragmentLayout | None = None
        if movie.fragmented:
            moov_samples = sum(t.sample_count for t in movie.tracks)
            self._fragments = FragmentWalk(
                movie,
                moov.end,
                self._reads,
                self.limits,
                max(0, self.limits.max_samples - moov_samples),
            )
            fragments = yield from self._fragments.run()
        elif search is None and self._samples_past_the_end(movie):
            after = ByteRange(moov.end, min(self.file_size, moov.end + HEADER_BYTES))
            need = self._reads.need((after,), "box header after moov (samples past the end)")
            if need is not None:
                yield need  # asked once: what it shows is used, if fed
        return self._finish(moov, movie, fragments, searched=search is not None)

    def _samples_past_the_end(self, movie: Movie) -> bool:
        """Whether some track's samples cannot all fit in the file (truncated, or lying).

        True when a chunk starts past the end, or when the first chunk's
        offset plus all the track's sample bytes does (samples do not
        overlap). Only then is the header after ``moov`` asked for: it tells
        a truncated file (an ``mdat`` declaring more than the file holds)
        from lying tables, at the cost of one need on that error path only.
        """
        for track in movie.tracks:
            offsets, sizes = track.chunk_offsets, track.sizes
            if offsets is None or not len(offsets) or sizes is None:
                continue
            total = sizes.constant * sizes.count if sizes.sizes is None else int(sizes.sizes.sum())
            if int(offsets.max()) >= self.file_size or int(offsets.min()) + total > self.file_size:
                return True
        return False

    def _walk(self) -> Task[BoxHeader | str]:
        """Follow top-level headers to ``moov``; else why the search must begin."""
        pos, after_mdat = 0, False
        while True:
            if self.file_size - pos <= 0 or len(self._walked) >= MAX_TOP_LEVEL_BOXES:
                if pos >= self.file_size:
                    return "no 'moov' in the top-level boxes"
                return f"more than {MAX_TOP_LEVEL_BOXES} top-level boxes"
            got = read_top_header(self._reads.store, pos, self.file_size)
            if isinstance(got, int):
                yield self._header_need(pos, got, after_mdat)
                continue
            if isinstance(got, Broken):
                self._cut = got.cut
                return f"{got.reason} at byte {got.offset}"
            self._walked.append(got)
            if got.type == b"moov":
                self._place_moov(got)
                return got
            if got.type == b"moof":
                raise UnsupportedContainer(
                    "a 'moof' before any 'moov' (a media segment without its initialization "
                    "segment) is not supported",
                    offset=got.start,
                )
            after_mdat = got.type == b"mdat"
            pos = got.end

    def _header_need(self, pos: int, needed: int, after_mdat: bool) -> Need:
        size = self.file_size
        if pos < HEAD_BYTES:
            wanted = ByteRange(pos, min(size, max(pos + needed, HEAD_BYTES)))
            reason = f"top-level headers from {pos}"
        elif after_mdat and size - pos <= self._moov_cap:
            wanted = ByteRange(pos, size)
            reason = f"box after mdat at {pos}, likely moov to the end of the file"
        else:
            wanted = ByteRange(pos, min(size, pos + max(needed, HEADER_BYTES)))
            reason = f"box header at {pos}"
        need = self._reads.need((wanted,), reason)
        assert need is not None  # the header at ``pos`` is not held
        return need

    def _place_moov(self, moov: BoxHeader) -> None:
        if moov.size > self._moov_cap:
            raise IndexTooLarge(
                f"'moov' is {moov.size} bytes, more than the {self._moov_cap}-byte "
                f"{self._cap_name} limit",
                offset=moov.start,
            )
        self._moov = moov

    def _finish(
        self, moov: BoxHeader, movie: Movie, fragments: FragmentLayout | None, *, searched: bool
    ) -> ContainerIndex:
        headers = [ByteRange(b.start, b.start + b.header_size) for b in self._walked]
        ranges = [*headers, ByteRange(moov.start, moov.end)]
        layout = {b.start: b for b in self._walked}
        layout[moov.start] = moov
        if fragments is not None:
            ranges += fragments.index_ranges
            for box in fragments.boxes:
                layout.setdefault(box.start, box)
        elif not searched:
            store = self._reads.store
            held, broken = walk_held(store, moov.end, self.file_size, MAX_TOP_LEVEL_BOXES)
            for box in held:
                layout.setdefault(box.start, box)
            if broken is not None and broken.cut is not None:
                self._cut = broken.cut
        boxes = [layout[k] for k in sorted(layout)]
        return build_index(
            movie,
            file_size=self.file_size,
            limits=self.limits,
            index_ranges=merge_ranges(ranges),
            layout=[(b.name, ByteRange(b.start, b.end)) for b in boxes],
            fragments=fragments,
            before=[b for b in self._walked if b.start < moov.start],
            truncated=self._truncation(),
        )

    def _truncation(self) -> str | None:
        """How the file is known to be cut short: a top-level box runs past its end."""
        cut = self._cut
        if cut is None:
            return None
        return (
            f"'{cut.name}' at byte {cut.start} declares {cut.size} bytes, "
            f"{self.file_size - cut.start} remain"
        )

    # -- find and validate ---------------------------------------------------

    def _start_search(self, reason: str) -> _Search:
        size = self.file_size
        limit = max(0, size - (self.limits.max_index_bytes + self.limits.tail_window))
        search = _Search(reason, low=size, limit=limit)
        self._scan(search, 0, self.file_size)
        return search

    def _scan(self, search: _Search, lo: int, hi: int) -> None:
        """Look for ``moov`` headers in the held bytes of ``[lo, hi)``, without copying them.

        Each held span is searched where it lies; the few bytes around each
        joint between adjacent spans are searched joined, for a header cut there.
        """
        store = self._reads.store
        spans = store.spans()
        for i, (start, chunk) in enumerate(spans):
            stop = start + len(chunk)
            if stop <= lo or start >= hi:
                continue
            a, b = max(lo, start) - start, min(hi, stop) - start
            found = find_moov_headers(chunk, start, self.file_size, self._moov_cap, a, b)
            _candidates(search, found)
            if i + 1 < len(spans) and spans[i + 1][0] == stop and stop < hi:
                first = max(start, stop - _OVERLAP)
                joint = store.get(first, stop + min(_OVERLAP, len(spans[i + 1][1])))
                assert joint is not None  # two adjacent held spans
                found = find_moov_headers(bytes(joint), first, self.file_size, self._moov_cap)
                _candidates(search, found)

    def _find(self, search: _Search) -> Task[tuple[BoxHeader, Movie]]:
        """Search held bytes, then windows from the tail back, for a ``moov`` that validates."""
        reads = self._reads
        while True:
            while search.candidates:
                box = search.candidates[0]
                reason = f"moov candidate [{box.start}, {box.end})"
                need = reads.need((ByteRange(box.start, box.end),), reason)
                if need is not None:
                    yield need
                    continue
                search.candidates.pop(0)
                data = reads.get(box.start, box.end)
                try:
                    movie = validate_moov(data, box, self.file_size, self.limits)
                except ContainerError as exc:
                    search.rejected.append(f"{box.start}: {exc}")
                    continue
                self._moov = box
                movie.notes.append(f"'moov' found by search: {search.reason}")
                return box, movie
            if search.low <= search.limit or search.low == 0:
                break
            window = ByteRange(max(search.limit, search.low - self.limits.tail_window), search.low)
            reason = f"search for moov in [{window.start}, {window.stop})"
            need = reads.need((window,), reason)
            if need is not None:
                yield need
                continue
            self._scan(search, window.start, min(self.file_size, window.stop + _OVERLAP))
            search.low = window.start
        raise self._not_found(search)

    def _not_found(self, search: _Search) -> ContainerError:
        """The error when no candidate validates: truncation, a ``moov`` too large, or none."""
        detail = "; ".join(search.rejected[:3])
        cut = self._cut
        if cut is not None and not search.too_large:
            return TruncatedContainer(
                f"the file is truncated and no whole 'moov' lies before its end: "
                f"'{cut.name}' of {cut.size} bytes runs past it "
                f"({self.file_size - cut.start} bytes left)",
                offset=cut.start,
            )
        if search.too_large and not search.rejected:
            box = search.too_large[-1]
            return IndexTooLarge(
                f"'moov' of {box.size} bytes is more than the {self._moov_cap}-byte "
                f"{self._cap_name} limit ({search.reason})",
                offset=box.start,
            )
        return MalformedContainer(
            f"no valid 'moov' box found ({search.reason})"
            + (f"; rejected {detail}" if detail else "")
        )


def _candidates(search: _Search, found: tuple[list[BoxHeader], list[BoxHeader]]) -> None:
    candidates, large = found
    for box in candidates:
        if box.start not in search.seen:
            search.seen.add(box.start)
            search.candidates.append(box)
    search.too_large += [box for box in large if box not in search.too_large]
