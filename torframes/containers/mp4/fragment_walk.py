"""Find every movie fragment of a fragmented MP4, with as few needs as the file allows.

After ``moov`` a fragmented file is a chain of top-level boxes (ISO/IEC
14496-12 §4.2): ``moof`` + ``mdat`` pairs, maybe ``styp``, ``sidx``,
``emsg``, ``free``, and ``mfra`` at the end. Only the ``moof`` boxes (and
the indexes) are needed, never the media in ``mdat``. Where they are is
learnt three ways, and :class:`FragmentWalk` uses whichever the bytes
offer, all at once:

* **The chain of headers.** Each header gives the next box's position;
  after a ``moof`` header both the ``moof`` body and the header after it
  are asked for in the same need. One position at a time, so a plain walk
  takes about one round per fragment when pieces hold a ``moof`` and the
  ``mdat`` header after it (two when each need is read exactly).
* **A segment index** (``sidx``, §8.16.3, read wherever the chain meets
  one): every subsegment start is a box position, known at once; the
  chains from all of them advance together, so a ``sidx`` listing every
  fragment costs about two rounds after the head, whatever the count.
* **The random access index** at the end (``mfra``/``tfra``, §8.8.9–8.8.11):
  when the walk is stuck, no ``sidx`` reaches far, and more than
  :data:`MFRA_WORTH` fragments seem to remain, the last 16 bytes (``mfro``)
  are asked for together with the walk's next header; ``mfra`` then lists
  the ``moof`` of every fragment holding a sync sample. Fragments it does
  not list are reached by walking on from the listed ones.

Every position from an index is a hint: chains are walked from all of
them in parallel, but the result holds only the boxes of the one chain
that starts right after ``moov`` and runs to the end of the file (or to
a header that cannot be followed: a cut-off ``mdat`` in a truncated
recording). Hints off that chain cost a few reads and are otherwise
ignored. Each ``moof`` is parsed (:func:`~torframes.containers.mp4.moof.parse_moof`)
as soon as it is held, so held bytes can be dropped under memory pressure.

Bounds: at most :data:`MAX_FRAGMENTS` ``moof`` boxes and
:data:`MAX_CHAIN_BOXES` top-level boxes, ``moof``/``sidx``/``mfra`` bytes
together no more than ``IndexLimits.max_index_bytes``, samples no more
than ``IndexLimits.max_samples``; past them :class:`~torframes.errors.IndexTooLarge`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from torframes.containers.base import ByteRange, ByteStore, IndexLimits, Need
from torframes.containers.mp4.boxes import BoxHeader, Reader, iter_boxes, read_box_header
from torframes.containers.mp4.moof import Fragment, parse_moof
from torframes.containers.mp4.moov import Movie
from torframes.containers.mp4.random_access import Sidx, read_mfro, read_sidx, read_tfra
from torframes.containers.mp4.walk import Broken, read_top_header
from torframes.containers.reading import Reads, Spans, Task, merge_ranges
from torframes.errors import ContainerError, IndexTooLarge

__all__ = [
    "MAX_CHAIN_BOXES",
    "MAX_FRAGMENTS",
    "MFRA_WORTH",
    "FragmentLayout",
    "FragmentWalk",
]

#: Most ``moof`` boxes indexed (a day of one-second fragments is 86,400).
MAX_FRAGMENTS = 500_000
#: Most top-level boxes walked after ``moov``.
MAX_CHAIN_BOXES = 4 * MAX_FRAGMENTS
#: Read the tail for an ``mfra`` when more fragments than this seem left to walk.
MFRA_WORTH = 3
#: The ``mfro`` box: the last 16 bytes of a file with an ``mfra``.
MFRO_BYTES = 16


@dataclass
class FragmentLayout:
    """The chain after ``moov``: its boxes, fragments and segment indexes, in file order."""

    boxes: list[BoxHeader]
    #: ``Fragment`` and ``(sidx header, Sidx)`` items in file order.
    events: list[Fragment | tuple[BoxHeader, Sidx]]
    index_ranges: list[ByteRange]
    mfra: BoxHeader | None
    notes: list[str] = field(default_factory=list)

    @property
    def fragments(self) -> list[Fragment]:
        return [e for e in self.events if isinstance(e, Fragment)]


class FragmentWalk:
    """The I/O-free search for the fragments after ``moov`` (see the module docstring).

    :meth:`step` looks at the bytes held and answers the next
    :class:`~torframes.containers.base.Need`, or None once the chain from
    ``start`` is walked to its end and every ``moof`` on it is parsed.
    """

    def __init__(
        self, movie: Movie, start: int, reads: Reads, limits: IndexLimits, max_samples: int
    ) -> None:
        self.movie = movie
        self.start = start
        self.reads = reads
        self.file_size = file_size = reads.file_size
        self.limits = limits
        self.max_samples = max_samples
        self.tracks = {t.track_id for t in movie.tracks}
        self.boxes: dict[int, BoxHeader] = {}
        self.broken: dict[int, Broken] = {}
        #: Positions whose header is not held yet -> bytes needed there.
        self.frontier: dict[int, int] = {}
        self._queue: list[int] = [start] if start < file_size else []
        self.fragments: dict[int, Fragment] = {}
        self.sidx: dict[int, Sidx | None] = {}
        #: ``moof``/``sidx`` boxes whose header is known but which are not parsed yet.
        self._pending: dict[int, BoxHeader] = {}
        #: Windows kept through memory reductions: box-looking bytes not walked yet.
        self._keep: list[ByteRange] = []
        self.hints: set[int] = set()
        self.tip = start
        self._passed = 0
        self._first_moof: int | None = None
        self._last_moof = 0
        self._largest = 1024
        self.moofs = 0
        self.index_bytes = 0
        self.samples = 0
        self.mfro = "unasked"
        self.mfra: BoxHeader | None = None
        self.notes: list[str] = []

    # -- the task ----------------------------------------------------------

    def run(self) -> Task[FragmentLayout]:
        """Yield needs until the chain is walked and parsed; return :meth:`layout`."""
        store = self.reads.store
        while True:
            self._consume(store)
            if self._done():
                return self.layout()
            if self.mfro == "unasked" and self._worth_mfra():
                self.mfro = "asked"
                continue
            yield self._need(store)

    def _consume(self, store: ByteStore) -> None:
        """Walk, parse and read indexes as far as the held bytes allow."""
        while True:
            progressed = self._walk(store)
            progressed |= self._parse(store)
            progressed |= self._random_access(store)
            if not progressed:
                break
        self._advance_tip()

    def still_helps(self, spans: Spans) -> list[ByteRange]:
        """What of ``spans`` may still help, for :attr:`~torframes.containers.reading.Reads.keep`.

        The held bytes are consumed first (walked, parsed), so that what is
        done with can go. After that what may still help is: the parts of
        headers, ``moof``/``sidx`` boxes and ``mfra`` known but not complete;
        bytes that look like a box header of a type found after ``moov``
        (a chain may reach them later: a fragment ``mfra`` does not list,
        in a piece fed for another one), with the whole box for ``moof``
        and ``sidx``; and the first bytes of every span, as many as the
        largest ``moof`` seen, where a box cut by the span's start (a piece
        fed before the one holding the header) continues.
        """
        self._consume(self.reads.store)
        return self._keep_ranges(spans)

    def _keep_ranges(self, spans: Spans) -> list[ByteRange]:
        """What :meth:`still_helps` keeps of ``spans`` (see there)."""
        size = self.file_size
        keep = [ByteRange(p, p + n) for p, n in self.frontier.items()]
        keep += [ByteRange(b.start, b.end) for b in self._pending.values()]
        keep.append(ByteRange(max(0, size - MFRO_BYTES), size))
        if self.mfra is not None:
            keep.append(ByteRange(self.mfra.start, self.mfra.end))
        windows = list(self._keep)
        cut = self._largest + 16
        previous_end = -1
        for start, chunk in spans:
            windows += _box_windows(chunk, start, size, self.boxes)
            if start != previous_end:
                keep.append(ByteRange(start, min(size, start + cut)))
            previous_end = start + len(chunk)
        self._keep = [
            w
            for w in merge_ranges(windows)
            if w.start not in self.boxes or w.start in self._pending
        ]
        return keep + self._keep

    def _walk(self, store: ByteStore) -> bool:
        """Read every header the held bytes show, from every known position on."""
        progressed = False
        queue, self._queue = self._queue + list(self.frontier), []
        self.frontier = {}
        size = self.file_size
        while queue:
            pos = queue.pop()
            if pos in self.boxes or pos in self.broken or pos >= size:
                continue
            got = read_top_header(store, pos, size)
            if isinstance(got, int):
                self.frontier[pos] = got
                continue
            progressed = True
            if isinstance(got, Broken):
                self.broken[pos] = got
                continue
            self._add_box(got)
            if got.end < size:
                queue.append(got.end)
        return progressed

    def _add_box(self, box: BoxHeader) -> None:
        if len(self.boxes) >= MAX_CHAIN_BOXES:
            raise IndexTooLarge(f"more than {MAX_CHAIN_BOXES} top-level boxes after 'moov'")
        self.boxes[box.start] = box
        if box.type in (b"moof", b"sidx"):
            self._pending[box.start] = box
            self.index_bytes += box.size
            if self.index_bytes > self.limits.max_index_bytes:
                raise IndexTooLarge(
                    f"'moof' and 'sidx' boxes total more than {self.limits.max_index_bytes} bytes",
                    offset=box.start,
                )
        if box.type == b"moof":
            self._largest = max(self._largest, box.size)
            self.moofs += 1
            if self.moofs > MAX_FRAGMENTS:
                raise IndexTooLarge(f"more than {MAX_FRAGMENTS} movie fragments", offset=box.start)

    def _parse(self, store: ByteStore) -> bool:
        """Parse every held ``moof`` and ``sidx`` not parsed yet."""
        progressed = False
        for box in list(self._pending.values()):
            data = store.get(box.start, box.end)
            if data is None:
                continue
            progressed = True
            del self._pending[box.start]
            if box.type == b"moof":
                fragment = parse_moof(
                    data,
                    box,
                    base=box.start,
                    trex=self.movie.trex,
                    tracks=self.tracks,
                    budget=self.max_samples - self.samples,
                )
                self.samples += fragment.samples
                self.fragments[box.start] = fragment
            else:
                self.sidx[box.start] = self._read_sidx(data, box)
        return progressed

    def _read_sidx(self, data: memoryview, box: BoxHeader) -> Sidx | None:
        try:
            sidx = read_sidx(Reader.payload(data, box, base=box.start))
        except ContainerError as exc:
            self.notes.append(f"'sidx' at {box.start} ignored: {exc}")
            return None
        starts = sidx.starts(box.end)
        self._hint([*starts.tolist(), sidx.end(box.end)])
        return sidx

    def _hint(self, positions: list[int]) -> None:
        for pos in positions:
            if len(self.hints) >= MAX_FRAGMENTS:
                self.notes.append(f"more than {MAX_FRAGMENTS} fragment positions; rest ignored")
                return
            if self.start < pos < self.file_size and pos not in self.hints:
                self.hints.add(pos)
                self._queue.append(pos)

    # -- the random access index at the end ----------------------------------

    def _worth_mfra(self) -> bool:
        """More than :data:`MFRA_WORTH` fragments seem to lie beyond what is placed.

        Not before the first ``moof`` is placed nor while a ``sidx`` is
        being read: a ``sidx`` comes before the fragments it indexes.
        """
        if self.file_size < self.start + MFRO_BYTES or self._first_moof is None:
            return False
        if any(box.type == b"sidx" for box in self._pending.values()):
            return False
        reach = max([self.tip, *(p for p in self.hints if p > self.tip)])
        left = self.file_size - reach
        if self._passed >= 2:
            span = (self._last_moof - self._first_moof) / (self._passed - 1)
        else:
            span = self.tip - self._first_moof
        return left > MFRA_WORTH * span

    def _random_access(self, store: ByteStore) -> bool:
        """``mfro`` -> ``mfra`` -> ``tfra`` hints, as the bytes arrive."""
        size = self.file_size
        if self.mfro == "asked":
            tail = store.get(size - MFRO_BYTES, size)
            if tail is None:
                return False
            self.mfro = "done"
            mfra_size = self._mfro(tail)
            if mfra_size is None:
                return True
            self.mfra = BoxHeader(b"mfra", size - mfra_size, mfra_size, 8)
            self.mfro = "mfra"
        if self.mfro == "mfra":
            mfra = self.mfra
            assert mfra is not None
            data = store.get(mfra.start, mfra.end)
            if data is None:
                return False
            self.mfro = "done"
            self._read_mfra(data, mfra)
            return True
        return False

    def _mfro(self, tail: memoryview) -> int | None:
        """The ``mfra`` size an ``mfro`` in the last 16 bytes gives, if it is one."""
        try:
            box = read_box_header(tail, 0, MFRO_BYTES, base=self.file_size - MFRO_BYTES)
            if box.type != b"mfro" or box.size != MFRO_BYTES:
                self.notes.append("no 'mfro' at the end of the file: fragments walked")
                return None
            mfra_size = read_mfro(Reader.payload(tail, box, base=box.start))
        except ContainerError:
            self.notes.append("no 'mfro' at the end of the file: fragments walked")
            return None
        if not 8 + MFRO_BYTES <= mfra_size <= self.file_size - self.start:
            self.notes.append(f"'mfro' gives an impossible 'mfra' size {mfra_size}; ignored")
            return None
        if mfra_size > self.limits.max_index_bytes:
            self.notes.append(f"'mfra' of {mfra_size} bytes is over the index cap; not read")
            return None
        return mfra_size

    def _read_mfra(self, data: memoryview, mfra: BoxHeader) -> None:
        positions: list[int] = []
        try:
            box = read_box_header(data, 0, len(data), base=mfra.start)
            if box.type != b"mfra" or box.size != mfra.size:
                raise ContainerError(f"'{box.name}' of {box.size} bytes where 'mfra' should be")
            for child in iter_boxes(data, box.header_size, box.size, base=mfra.start):
                if child.type == b"tfra":
                    tfra = read_tfra(Reader.payload(data, child, base=mfra.start))
                    positions += sorted(set(tfra.moof_offsets.tolist()))
        except ContainerError as exc:
            self.notes.append(f"'mfra' at {mfra.start} ignored: {exc}")
            self.mfra = None
            return
        self._hint([p for p in positions if p < mfra.start])

    # -- progress ------------------------------------------------------------

    def _advance_tip(self) -> None:
        while self.tip in self.boxes:
            box = self.boxes[self.tip]
            if box.type == b"moof":
                if self._first_moof is None:
                    self._first_moof = box.start
                self._last_moof = box.start
                self._passed += 1
            self.tip = box.end

    def _main_chain(self) -> list[BoxHeader]:
        chain, pos = [], self.start
        while pos in self.boxes:
            chain.append(self.boxes[pos])
            pos = self.boxes[pos].end
        return chain

    def _done(self) -> bool:
        if not (self.tip >= self.file_size or self.tip in self.broken):
            return False
        return all(
            b.start in self.fragments if b.type == b"moof" else b.start in self.sidx
            for b in self._main_chain()
            if b.type in (b"moof", b"sidx")
        )

    def _need(self, store: ByteStore) -> Need:
        size = self.file_size
        wanted: list[ByteRange] = []
        headers = 0
        others = [p for p in self.frontier if p != self.tip]
        starts = sorted(self.boxes) if others else []
        for pos, needed in sorted(self.frontier.items()):
            if pos != self.tip and self._inside_known_box(pos, starts):
                continue
            headers += 1
            wanted += store.missing(pos, min(size, pos + needed))
        bodies = list(self._pending.values())
        for box in bodies:
            wanted += store.missing(box.start, box.end)
        parts = [f"{headers} box header(s)"] if headers else []
        if bodies:
            parts.append(f"{len(bodies)} moof/sidx box(es)")
        if self.mfro == "asked":
            wanted += store.missing(size - MFRO_BYTES, size)
            parts.append("mfro at the end of the file")
        elif self.mfro == "mfra" and self.mfra is not None:
            wanted += store.missing(self.mfra.start, self.mfra.end)
            parts.append(f"mfra [{self.mfra.start}, {self.mfra.end})")
        ranges = merge_ranges(wanted)
        if not ranges:
            raise ContainerError("fragment walk stalled (no bytes left to ask for)")
        return Need(tuple(ranges), "fragments: " + ", ".join(parts))

    def _inside_known_box(self, pos: int, starts: list[int]) -> bool:
        """True when ``pos`` falls inside a known box: a hint off the chain, not worth a read."""
        i = bisect.bisect_right(starts, pos) - 1
        return i >= 0 and starts[i] < pos < self.boxes[starts[i]].end

    # -- the result ----------------------------------------------------------

    def layout(self) -> FragmentLayout:
        """The main chain's boxes, fragments and indexes, and the ranges truly read."""
        chain = self._main_chain()
        events: list[Fragment | tuple[BoxHeader, Sidx]] = []
        ranges = [ByteRange(b.start, b.start + b.header_size) for b in chain]
        for box in chain:
            if box.type == b"moof":
                events.append(self.fragments[box.start])
                ranges.append(ByteRange(box.start, box.end))
            elif box.type == b"sidx":
                sidx = self.sidx.get(box.start)
                ranges.append(ByteRange(box.start, box.end))
                if sidx is not None:
                    events.append((box, sidx))
        end = chain[-1].end if chain else self.start
        if end < self.file_size:
            broken = self.broken.get(end)
            if broken is not None and self.file_size - end >= 8:
                ranges.append(ByteRange(end, end + 8))
            why = broken.reason if broken is not None else "unknown"
            self.notes.append(
                f"the boxes after 'moov' end at byte {end} of {self.file_size} ({why}); "
                "fragments after it, if any, are not indexed"
            )
        if self.mfra is not None:
            ranges.append(ByteRange(self.mfra.start, self.mfra.end))
        notes = list(self.notes)
        off_chain = len(self.fragments) - sum(1 for e in events if isinstance(e, Fragment))
        if off_chain:
            notes.append(
                f"{off_chain} 'moof' box(es) at indexed positions off the box chain ignored"
            )
        return FragmentLayout(chain, events, list(merge_ranges(ranges)), self.mfra, notes)


#: Box types a chain after ``moov`` is made of; bytes that look like their
#: headers survive a memory reduction.
_CHAIN_TYPES = (b"moof", b"mdat", b"sidx", b"styp", b"free", b"skip", b"emsg", b"prft", b"mfra")


def _box_windows(
    chunk: bytes | memoryview, base: int, file_size: int, known: dict[int, BoxHeader]
) -> list[ByteRange]:
    """Ranges of ``chunk`` (at file offset ``base``) that look like chain box headers.

    A hit needs a size that fits the file; ``moof`` and ``sidx`` keep their
    whole box, others their header.
    """
    raw = bytes(chunk)
    found: list[ByteRange] = []
    for kind in _CHAIN_TYPES:
        at = raw.find(kind, 4)
        while at >= 0:
            pos = base + at - 4
            size = int.from_bytes(raw[at - 4 : at], "big")
            if pos not in known and (size == 1 or 8 <= size <= file_size - pos):
                whole = kind in (b"moof", b"sidx") and size != 1
                found.append(ByteRange(pos, pos + (size if whole else 16)))
            at = raw.find(kind, at + 1)
    return found
