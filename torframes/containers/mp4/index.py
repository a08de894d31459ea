"""The MP4/MOV index parser: fed byte ranges, answers with a need or the index.

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
file's bytes. Fed more than fits, it keeps only what the last need asked
for and the ``moov`` box; a ``moov`` larger than the buffer (or than
``max_index_bytes``) is :class:`~torframes.errors.IndexTooLarge` before any
of it is asked for. Parsing works on one joined copy of ``moov``.

Errors: every reader checks what it reads and raises the project's
:class:`~torframes.errors.ContainerError` itself; nothing here turns other
exceptions into container errors, so a reader that forgot a check shows
up as the bug it is. A file that ends inside a top-level box it declares
is :class:`~torframes.errors.TruncatedContainer` when that leaves no
``moov`` or puts samples past its end; tables that are well formed box by
box but absurd together (a scrambled ``moov``) are rejected by
:mod:`~torframes.containers.mp4.plausible`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torframes.containers.base import (
    ByteRange,
    ByteStore,
    ContainerIndex,
    IndexLimits,
    IndexParser,
    Need,
)
from torframes.containers.mp4.boxes import BoxHeader
from torframes.containers.mp4.build import build_index
from torframes.containers.mp4.find import find_moov_headers, validate_moov
from torframes.containers.mp4.fragment_walk import FragmentWalk
from torframes.containers.mp4.moov import Movie, parse_moov
from torframes.containers.mp4.walk import Broken, read_top_header, walk_held
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


class Mp4IndexParser(IndexParser):
    """Index an MP4/MOV file (ISO/IEC 14496-12, QuickTime) from its ``moov`` box.

    Pure: no I/O. Feed it any bytes of the file (:meth:`feed`), in any
    order and more than asked if convenient; :meth:`step` answers with the
    next :class:`~torframes.containers.base.Need` or the finished
    :class:`~torframes.containers.base.ContainerIndex`.
    """

    container = "mp4"

    def __init__(self, file_size: int, limits: IndexLimits | None = None) -> None:
        super().__init__(file_size, limits)
        self._budget = self.limits.max_buffer_bytes
        self._store = ByteStore(file_size, self._budget)
        limits = self.limits
        #: The largest ``moov`` taken: it must fit the index cap and the buffer.
        self._moov_cap = min(limits.max_index_bytes, limits.max_buffer_bytes)
        self._cap_name = (
            "max_index_bytes"
            if limits.max_index_bytes <= limits.max_buffer_bytes
            else "max_buffer_bytes"
        )
        self._pos = 0
        self._walked: list[BoxHeader] = []
        self._after_mdat = False
        self._moov: BoxHeader | None = None
        self._movie: Movie | None = None
        self._search: _Search | None = None
        self._wanted: tuple[ByteRange, ...] = ()
        self._result: ContainerIndex | None = None
        self._fragments: FragmentWalk | None = None
        #: A top-level box found running past the end of the file (truncation).
        self._cut: BoxHeader | None = None
        self._asked_after_moov = False
        #: Needs answered so far (for tests and round-trip statistics).
        self.needs = 0

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        """Keep what may help; past the memory budget, only what the last need asked for."""
        if self._fragments is not None:
            self._fragments.feed(self._store, offset, memoryview(data), self._wanted)
            return
        if self._store.held + len(data) > self._budget:
            self._compact()
            view = memoryview(data)
            for wanted in self._wanted:
                lo, hi = max(offset, wanted.start), min(offset + len(data), wanted.stop)
                if lo < hi:
                    self._store.add(lo, view[lo - offset : hi - offset])
            return
        self._store.add(offset, data)

    def step(self) -> Need | ContainerIndex:
        if self._result is not None:
            return self._result
        step = self._step()
        if isinstance(step, Need):
            self._wanted = step.ranges
            self.needs += 1
        else:
            self._result = step
        return step

    # -- the steps ---------------------------------------------------------

    def _step(self) -> Need | ContainerIndex:
        if self._moov is None and self._search is None:
            need = self._walk()
            if need is not None:
                return need
        if self._moov is not None:
            moov = self._moov
            if self._movie is None:
                missing = self._store.missing(moov.start, moov.end)
                if missing:
                    return Need(tuple(missing), f"moov [{moov.start}, {moov.end})")
                data = self._store.get(moov.start, moov.end)
                self._movie = parse_moov(
                    data, base=moov.start, file_size=self.file_size, limits=self.limits
                )
            return self._after_moov(self._movie)
        return self._find()

    def _after_moov(self, movie: Movie) -> Need | ContainerIndex:
        """The fragments' needs of a fragmented file, then the index."""
        moov = self._moov
        assert moov is not None
        if movie.fragmented:
            if self._fragments is None:
                moov_samples = sum(t.sample_count for t in movie.tracks)
                self._fragments = FragmentWalk(
                    movie,
                    moov.end,
                    self.file_size,
                    self.limits,
                    max(0, self.limits.max_samples - moov_samples),
                )
            need = self._fragments.step(self._store)
            if need is not None:
                return need
        elif self._search is None and self._samples_past_the_end(movie):
            after = ByteRange(moov.end, min(self.file_size, moov.end + HEADER_BYTES))
            missing = self._store.missing(after.start, after.stop)
            if missing and not self._asked_after_moov:
                self._asked_after_moov = True
                return Need(tuple(missing), "box header after moov (samples past the end)")
        return self._finish(movie)

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

    def _walk(self) -> Need | None:
        """Follow top-level headers; a need, or None once ``moov`` is placed or search begins."""
        while True:
            if self.file_size - self._pos <= 0 or len(self._walked) >= MAX_TOP_LEVEL_BOXES:
                why = (
                    "no 'moov' in the top-level boxes"
                    if self._pos >= self.file_size
                    else (f"more than {MAX_TOP_LEVEL_BOXES} top-level boxes")
                )
                self._start_search(why)
                return None
            got = read_top_header(self._store, self._pos, self.file_size)
            if isinstance(got, int):
                return self._header_need(got)
            if isinstance(got, Broken):
                self._cut = got.cut
                self._start_search(f"{got.reason} at byte {got.offset}")
                return None
            self._walked.append(got)
            if got.type == b"moov":
                self._place_moov(got)
                return None
            if got.type == b"moof":
                raise UnsupportedContainer(
                    "a 'moof' before any 'moov' (a media segment without its initialization "
                    "segment) is not supported",
                    offset=got.start,
                )
            self._after_mdat = got.type == b"mdat"
            self._pos = got.end

    def _header_need(self, needed: int) -> Need:
        pos, size = self._pos, self.file_size
        if pos < HEAD_BYTES:
            wanted = ByteRange(pos, min(size, max(pos + needed, HEAD_BYTES)))
            reason = f"top-level headers from {pos}"
        elif self._after_mdat and size - pos <= self._moov_cap:
            wanted = ByteRange(pos, size)
            reason = f"box after mdat at {pos}, likely moov to the end of the file"
        else:
            wanted = ByteRange(pos, min(size, pos + max(needed, HEADER_BYTES)))
            reason = f"box header at {pos}"
        return Need(tuple(self._store.missing(wanted.start, wanted.stop)), reason)

    def _place_moov(self, moov: BoxHeader) -> None:
        if moov.size > self._moov_cap:
            raise IndexTooLarge(
                f"'moov' is {moov.size} bytes, more than the {self._moov_cap}-byte "
                f"{self._cap_name} limit",
                offset=moov.start,
            )
        self._moov = moov

    def _finish(self, movie: Movie) -> ContainerIndex:
        moov = self._moov
        assert moov is not None
        headers = [ByteRange(b.start, b.start + b.header_size) for b in self._walked]
        ranges = [*headers, ByteRange(moov.start, moov.end)]
        layout = {b.start: b for b in self._walked}
        layout[moov.start] = moov
        fragments = self._fragments.layout() if self._fragments is not None else None
        if fragments is not None:
            ranges += fragments.index_ranges
            for box in fragments.boxes:
                layout.setdefault(box.start, box)
        elif self._search is None:
            held, broken = walk_held(self._store, moov.end, self.file_size, MAX_TOP_LEVEL_BOXES)
            for box in held:
                layout.setdefault(box.start, box)
            if broken is not None and broken.cut is not None:
                self._cut = broken.cut
        boxes = [layout[k] for k in sorted(layout)]
        return build_index(
            movie,
            file_size=self.file_size,
            limits=self.limits,
            index_ranges=_merged(ranges),
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

    def _start_search(self, reason: str) -> None:
        size = self.file_size
        limit = max(0, size - (self.limits.max_index_bytes + self.limits.tail_window))
        self._search = _Search(reason, low=size, limit=limit)
        self._scan(0, self.file_size)

    def _scan(self, lo: int, hi: int) -> None:
        """Look for ``moov`` headers in the held bytes of ``[lo, hi)``, without copying them.

        Each held span is searched where it lies; the few bytes around each
        joint between adjacent spans are searched joined, for a header cut there.
        """
        search = self._search
        assert search is not None
        spans = self._store.spans()
        for i, (start, chunk) in enumerate(spans):
            stop = start + len(chunk)
            if stop <= lo or start >= hi:
                continue
            a, b = max(lo, start) - start, min(hi, stop) - start
            self._candidates(find_moov_headers(chunk, start, self.file_size, self._moov_cap, a, b))
            if i + 1 < len(spans) and spans[i + 1][0] == stop and stop < hi:
                first = max(start, stop - _OVERLAP)
                joint = self._store.get(first, stop + min(_OVERLAP, len(spans[i + 1][1])))
                assert joint is not None  # two adjacent held spans
                self._candidates(
                    find_moov_headers(bytes(joint), first, self.file_size, self._moov_cap)
                )

    def _candidates(self, found: tuple[list[BoxHeader], list[BoxHeader]]) -> None:
        search = self._search
        assert search is not None
        candidates, large = found
        for box in candidates:
            if box.start not in search.seen:
                search.seen.add(box.start)
                search.candidates.append(box)
        search.too_large += [box for box in large if box not in search.too_large]

    def _find(self) -> Need | ContainerIndex:
        search = self._search
        assert search is not None
        while True:
            while search.candidates:
                box = search.candidates[0]
                missing = self._store.missing(box.start, box.end)
                if missing:
                    return Need(tuple(missing), f"moov candidate [{box.start}, {box.end})")
                search.candidates.pop(0)
                data = self._store.get(box.start, box.end)
                try:
                    movie = validate_moov(data, box, self.file_size, self.limits)
                except ContainerError as exc:
                    search.rejected.append(f"{box.start}: {exc}")
                    continue
                self._moov, self._movie = box, movie
                movie.notes.append(f"'moov' found by search: {search.reason}")
                return self._after_moov(movie)
            if search.low <= search.limit or search.low == 0:
                break
            window = ByteRange(max(search.limit, search.low - self.limits.tail_window), search.low)
            missing = self._store.missing(window.start, window.stop)
            if missing:
                return Need(tuple(missing), f"search for moov in [{window.start}, {window.stop})")
            self._scan(window.start, min(self.file_size, window.stop + _OVERLAP))
            search.low = window.start
        detail = "; ".join(search.rejected[:3])
        cut = self._cut
        if cut is not None and not search.too_large:
            raise TruncatedContainer(
                f"the file is truncated and no whole 'moov' lies before its end: "
                f"'{cut.name}' of {cut.size} bytes runs past it "
                f"({self.file_size - cut.start} bytes left)",
                offset=cut.start,
            )
        if search.too_large and not search.rejected:
            box = search.too_large[-1]
            raise IndexTooLarge(
                f"'moov' of {box.size} bytes is more than the {self._moov_cap}-byte "
                f"{self._cap_name} limit ({search.reason})",
                offset=box.start,
            )
        raise MalformedContainer(
            f"no valid 'moov' box found ({search.reason})"
            + (f"; rejected {detail}" if detail else "")
        )

    def _compact(self) -> None:
        """Forget held bytes that neither the last need nor ``moov`` covers."""
        keep = list(self._wanted)
        if self._moov is not None:
            keep.append(ByteRange(self._moov.start, self._moov.end))
        store = ByteStore(self.file_size, self._budget)
        for start, chunk in self._store.spans():
            for r in keep:
                lo, hi = max(start, r.start), min(start + len(chunk), r.stop)
                if (lo, hi) == (start, start + len(chunk)):
                    store.add(lo, chunk)  # kept whole: shared, not copied
                elif lo < hi:
                    store.add(lo, memoryview(chunk)[lo - start : hi - start])
        self._store = store


def _merged(ranges: list[ByteRange]) -> list[ByteRange]:
    out: list[ByteRange] = []
    for r in sorted(ranges):
        if out and r.start <= out[-1].stop:
            out[-1] = ByteRange(out[-1].start, max(out[-1].stop, r.stop))
        else:
            out.append(r)
    return out
