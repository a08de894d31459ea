"""The AVI index parser: headers, the place of ``movi``, then ``idx1`` or the OpenDML indexes.

Written as one generator task (:data:`~torframes.containers.reading.Task`)
that yields a :class:`~torframes.containers.base.Need` whenever the bytes
held do not suffice, driven by a
:class:`~torframes.containers.reading.Runner`. The reads:

1. the RIFF header and each top-level chunk header of the ``RIFF AVI``
   form, exactly, in file order (a torrent driver feeds whole pieces, so
   the headers near the head are usually held after the first read);
2. the whole ``hdrl`` list (at most ``IndexLimits.max_index_bytes``);
3. with OpenDML super indexes (``indx`` in the ``strl`` lists): every
   standard index chunk (``ix##``) they point at, wherever in ``movi`` or
   in the ``RIFF AVIX`` lists after it, in **one** need; rarely a second
   for the rest of a chunk larger than its pointer said. ``idx1`` is then
   not read (FFmpeg ignores it too);
4. otherwise the legacy ``idx1`` after ``movi``: the rest of the first
   RIFF from the end of ``movi`` in one need when that is at most the index
   cap (``idx1`` is the last chunk in files from every common muxer), and
   the first chunk header inside ``movi``, which tells relative offsets
   from absolute ones (:func:`~torframes.containers.avi.indexes.idx1_data_offset`).

``index_ranges`` are the chunk headers walked, ``hdrl``, the first
``movi`` chunk header (``idx1`` files) and the index chunks read.
The samples table lists every chunk the index lists (``complete``).

Errors: only :class:`~torframes.errors.ContainerError` leaves :meth:`step`.
"""

from __future__ import annotations

import numpy as np

from torframes.containers.avi.codecs import decoder_config
from torframes.containers.avi.hdrl import Header, read_hdrl
from torframes.containers.avi.indexes import (
    AVIIF_KEYFRAME,
    INDEX_OF_CHUNKS,
    OdmlIndex,
    idx1_data_offset,
    read_idx1,
    read_odml_index,
    stream_number,
)
from torframes.containers.avi.riff import HEADER_BYTES, LIST_HEADER_BYTES, Chunk, read_chunk
from torframes.containers.avi.tables import StreamEntries, samples_table, tracks_table
from torframes.containers.base import (
    ByteRange,
    ContainerIndex,
    DecoderConfig,
    IndexLimits,
)
from torframes.containers.reading import Task, TaskParser, merge_ranges
from torframes.errors import IndexTooLarge, MalformedContainer, UnsupportedContainer

__all__ = ["AviIndexParser"]

#: Top-level chunks walked before ``movi``, and after it to ``idx1``, before giving up
#: (muxers write a handful: ``hdrl``, ``INFO``, ``JUNK``; each may cost a round).
MAX_TOP_CHUNKS = 32
#: Chunks stepped over at the start of ``movi`` looking for the first stream chunk.
MAX_MOVI_STEPS = 16
#: Depth of super indexes pointing at super indexes followed (FFmpeg allows 1000).
MAX_INDEX_DEPTH = 4
#: Most index chunks the super indexes of a file may point at (one a second for 18 hours).
MAX_INDEX_CHUNKS = 1 << 16


class AviIndexParser(TaskParser):
    """Index an AVI file (RIFF ``AVI ``, OpenDML ``AVIX``) from its indexes (see the module)."""

    container = "avi"
    what = "an AVI file"

    def __init__(self, file_size: int, limits: IndexLimits | None = None) -> None:
        super().__init__(file_size, limits)
        self._ranges: list[ByteRange] = []
        self._layout: list[tuple[str, ByteRange]] = []
        self._notes: list[str] = []
        #: Standard index entries that may still be read (``max_samples`` in all).
        self._entries_left = self.limits.max_samples

    # -- the steps --------------------------------------------------------

    def _run(self) -> Task[ContainerIndex]:
        size = self.file_size
        riff = yield from self._chunk(0, size, "RIFF header")
        if riff.fourcc != b"RIFF" or riff.form != b"AVI ":
            raise UnsupportedContainer(f"not an AVI file: RIFF form {riff.name!r}")
        riff_end = min(riff.end, size)
        hdrl, movi = yield from self._walk_to_movi(riff, riff_end)
        body = yield from self._reads.bytes(hdrl.data, hdrl.stop, "AVI 'hdrl'")
        self._ranges.append(ByteRange(hdrl.start, hdrl.stop))
        header = read_hdrl(body, hdrl.data, size, self.limits.max_samples)
        if not header.streams:
            raise MalformedContainer("AVI 'hdrl' lists no stream", offset=hdrl.start)
        if any(s.indx is not None for s in header.streams):
            entries = yield from self._odml_entries(header)
            indexed_by = "indx"
        else:
            entries = yield from self._idx1_entries(header, movi, riff_end)
            indexed_by = "idx1"
        return self._index(header, entries, indexed_by)

    def _chunk(self, pos: int, limit: int, what: str) -> Task[Chunk]:
        """The chunk header at ``pos`` (inside a parent ending at ``limit``), asked for exactly."""
        stop = min(pos + LIST_HEADER_BYTES, limit)
        data = yield from self._reads.bytes(pos, stop, f"{what} at {pos}")
        return read_chunk(data, pos, pos, limit)

    def _walk_to_movi(self, riff: Chunk, riff_end: int) -> Task[tuple[Chunk, Chunk]]:
        """Walk the first RIFF's chunk headers up to ``movi``; ``hdrl`` must come before it."""
        self._ranges.append(ByteRange(0, LIST_HEADER_BYTES))
        hdrl = None
        pos = riff.data
        for _ in range(MAX_TOP_CHUNKS):
            if riff_end - pos < HEADER_BYTES:
                break
            chunk = yield from self._chunk(pos, riff_end, "AVI chunk header")
            self._ranges.append(ByteRange(pos, min(pos + LIST_HEADER_BYTES, riff_end)))
            self._layout.append((chunk.name, ByteRange(chunk.start, min(chunk.end, riff_end))))
            if chunk.form == b"hdrl" and hdrl is None:
                if chunk.size > self.limits.max_index_bytes:
                    raise IndexTooLarge(
                        f"'hdrl' of {chunk.size} bytes is over the "
                        f"{self.limits.max_index_bytes}-byte limit",
                        offset=pos,
                    )
                hdrl = chunk
            elif chunk.form == b"movi":
                if hdrl is None:
                    raise MalformedContainer("'movi' before 'hdrl'", offset=pos)
                return hdrl, chunk
            pos = chunk.end
        raise MalformedContainer(
            f"no 'movi' list in the first {MAX_TOP_CHUNKS} chunks of the AVI RIFF", offset=pos
        )

    # -- OpenDML ----------------------------------------------------------

    def _odml_entries(self, header: Header) -> Task[dict[int, StreamEntries]]:
        """Every stream's standard indexes, the chunks of a level asked for together."""
        found: dict[int, list[OdmlIndex]] = {s.number: [] for s in header.streams}
        level = [(s.number, s.indx) for s in header.streams if s.indx is not None]
        for _ in range(MAX_INDEX_DEPTH + 1):
            pointers: list[tuple[int, int, int]] = []
            for number, index in level:
                if index.kind == INDEX_OF_CHUNKS:
                    found[number].append(index)
                    continue
                if len(pointers) + len(index.offsets) > MAX_INDEX_CHUNKS:
                    raise IndexTooLarge(
                        f"super indexes point at over {MAX_INDEX_CHUNKS} index chunks"
                    )
                for start, length in zip(index.offsets.tolist(), index.sizes.tolist(), strict=True):
                    if not 0 <= start < self.file_size:
                        raise MalformedContainer(f"super index points past the file at {start}")
                    pointers.append((number, start, length))
            if not pointers:
                return {n: _concat(indexes) for n, indexes in found.items()}
            level = yield from self._read_index_chunks(pointers)
        raise MalformedContainer(f"OpenDML super indexes nested over {MAX_INDEX_DEPTH} deep")

    def _read_index_chunks(
        self, pointers: list[tuple[int, int, int]]
    ) -> Task[list[tuple[int, OdmlIndex]]]:
        """The index chunks at ``pointers`` (stream, offset, size): one need, then any rest."""
        size = self.file_size
        wanted = [ByteRange(start, min(size, start + max(length, LIST_HEADER_BYTES)))
                  for _, start, length in pointers]  # fmt: skip
        if sum(r.length for r in merge_ranges(wanted)) > self.limits.max_index_bytes:
            raise IndexTooLarge(
                f"OpenDML indexes over the {self.limits.max_index_bytes}-byte limit"
            )
        yield from self._reads.require(wanted, f"{len(wanted)} OpenDML index chunk(s)")
        chunks = []
        for number, start, _ in pointers:
            chunk = read_chunk(self._reads.get(start, start + HEADER_BYTES), start, start, size)
            if not _is_index_id(chunk.fourcc):
                raise MalformedContainer(
                    f"super index points at {chunk.name!r}, not an index chunk", offset=start
                )
            chunks.append((number, chunk))
        rest = [ByteRange(c.start, c.stop) for _, c in chunks]
        if sum(r.length for r in merge_ranges(rest)) > self.limits.max_index_bytes:
            raise IndexTooLarge(
                f"OpenDML indexes over the {self.limits.max_index_bytes}-byte limit"
            )
        yield from self._reads.require(rest, "rest of OpenDML index chunk(s)")
        out = []
        for number, chunk in chunks:
            self._ranges.append(ByteRange(chunk.start, chunk.stop))
            self._layout.append((chunk.name, ByteRange(chunk.start, chunk.end)))
            body = self._reads.get(chunk.data, chunk.stop)
            index = read_odml_index(body, chunk.start, size, self._entries_left)
            if index.kind == INDEX_OF_CHUNKS:
                self._entries_left -= len(index.offsets)
            if stream_number(index.chunk_id) != number and index.kind == INDEX_OF_CHUNKS:
                raise MalformedContainer(
                    f"index chunk for stream {stream_number(index.chunk_id)} "
                    f"listed by stream {number}",
                    offset=chunk.start,
                )
            out.append((number, index))
        return out

    # -- idx1 -------------------------------------------------------------

    def _idx1_entries(
        self, header: Header, movi: Chunk, riff_end: int
    ) -> Task[dict[int, StreamEntries]]:
        """Find ``idx1`` after ``movi`` and split its entries by stream."""
        tail = ByteRange(min(movi.end, riff_end), riff_end)
        if tail.length <= self.limits.max_index_bytes:
            yield from self._reads.require([tail], f"idx1 after movi [{tail.start}, {tail.stop})")
        idx1 = None
        pos = tail.start
        for _ in range(MAX_TOP_CHUNKS):
            if riff_end - pos < HEADER_BYTES:
                break
            chunk = yield from self._chunk(pos, riff_end, "AVI chunk header")
            self._ranges.append(ByteRange(pos, min(pos + LIST_HEADER_BYTES, riff_end)))
            self._layout.append((chunk.name, ByteRange(chunk.start, chunk.end)))
            if chunk.fourcc == b"idx1":
                idx1 = chunk
                break
            pos = chunk.end
        if idx1 is None:
            raise UnsupportedContainer(
                "AVI without an index ('idx1' or OpenDML): reading it would need the whole file"
            )
        if idx1.size > self.limits.max_index_bytes:
            raise IndexTooLarge(
                f"'idx1' of {idx1.size} bytes is over the {self.limits.max_index_bytes}-byte limit",
                offset=idx1.start,
            )
        body = yield from self._reads.bytes(idx1.data, idx1.stop, "AVI 'idx1'")
        self._ranges.append(ByteRange(idx1.start, idx1.stop))
        entries = read_idx1(body, idx1.start, self.limits.max_samples)
        first = yield from self._first_movi_chunk(movi, len(header.streams))
        return self._split_idx1(header, entries, movi, first)

    def _first_movi_chunk(self, movi: Chunk, streams: int) -> Task[int | None]:
        """Where the first stream chunk in ``movi`` starts (FFmpeg's ``avi_sync``), or None."""
        pos = movi.data
        for _ in range(MAX_MOVI_STEPS):
            if movi.stop - pos < HEADER_BYTES:
                return None
            stop = min(pos + HEADER_BYTES, movi.stop)
            data = yield from self._reads.bytes(pos, stop, f"first chunk in movi at {pos}")
            self._ranges.append(ByteRange(pos, stop))
            ident = bytes(data[:4])
            if ident == b"LIST":
                pos += LIST_HEADER_BYTES
                continue
            if ident[:2].isdigit() and int(ident[:2]) < streams and ident[2:] != b"ix":
                return pos
            chunk = read_chunk(data, pos, pos, movi.stop)
            pos = chunk.end
        return None

    def _split_idx1(
        self, header: Header, idx1, movi: Chunk, first: int | None
    ) -> dict[int, StreamEntries]:
        """Entries by stream: file offsets of the chunks' data, sizes, keyframe flags."""
        numbers = stream_number(idx1.ids)
        palette = (idx1.ids >> 16) == (ord("p") | ord("c") << 8)
        valid = (numbers >= 0) & (numbers < len(header.streams)) & ~palette
        if not valid.any():
            return {}
        movi_list = movi.start + HEADER_BYTES  # FFmpeg's movi_list: the 'movi' FOURCC
        base = idx1_data_offset(int(idx1.offsets[valid][0]), movi_list, first)
        starts = idx1.offsets + base + HEADER_BYTES
        keys = (idx1.flags & AVIIF_KEYFRAME) != 0
        if not keys[valid].any():
            self._notes.append("no 'idx1' entry is flagged a keyframe: each stream's first is")
        out = {}
        for stream in header.streams:
            mine = valid & (numbers == stream.number)
            flags = keys[mine]
            if not keys[valid].any() and len(flags):
                flags = flags.copy()
                flags[0] = True
            out[stream.number] = StreamEntries(starts[mine], idx1.sizes[mine], flags)
        return out

    # -- the result -------------------------------------------------------

    def _index(
        self, header: Header, entries: dict[int, StreamEntries], indexed_by: str
    ) -> ContainerIndex:
        size = self.file_size
        for stream in header.streams:
            got = entries.get(stream.number)
            if got is None or not len(got.sizes):
                continue
            stops = got.offsets + got.sizes
            if int(got.offsets.min()) < 0 or int(stops.max()) > size:
                raise MalformedContainer(
                    f"the {indexed_by} index places stream {stream.number} data outside the file"
                )
        samples = samples_table(header.streams, entries)
        if len(samples) > self.limits.max_samples:
            raise IndexTooLarge(f"{len(samples)} samples, over the {self.limits.max_samples} cap")
        configs: dict[int, DecoderConfig] = {}
        for stream in header.streams:
            if stream.video is not None:
                configs[stream.number] = decoder_config(
                    stream.number, stream.video, stream.extradata
                )
                if configs[stream.number].codec_name in ("mpeg4", "h264", "hevc"):
                    self._notes.append(_PTS_NOTE.format(stream.number))
        return ContainerIndex(
            container="avi",
            tracks=tracks_table(header.streams, samples, indexed_by),
            samples=samples,
            decoder_configs=configs,
            index_ranges=merge_ranges(self._ranges),
            layout=tuple(sorted(set(self._layout), key=lambda item: item[1])),
            complete=True,
            notes=tuple(self._notes),
        )


_PTS_NOTE = (
    "stream {}: AVI stores decode order only; pts is the chunk's dts (FFmpeg gives "
    "B-frame streams other pts by parsing the frames)"
)


def _is_index_id(fourcc: bytes) -> bool:
    """``ix##`` (or ``##ix``, as some muxers write it): a standard or super index chunk."""
    return (
        (fourcc[:2] == b"ix" and fourcc[2:].isdigit())
        or (fourcc[:2].isdigit() and fourcc[2:] == b"ix")
        or fourcc == b"indx"
    )


def _concat(indexes: list[OdmlIndex]) -> StreamEntries:
    if not indexes:
        return StreamEntries.empty()
    return StreamEntries(
        np.concatenate([i.offsets for i in indexes]),
        np.concatenate([i.sizes for i in indexes]),
        np.concatenate([i.keyframes for i in indexes if i.keyframes is not None]),
    )
