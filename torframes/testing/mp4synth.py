"""A minimal MP4 box writer, for synthetic files in tests and benchmarks.

Not a muxer: it writes exactly the boxes it is given, so tests can build
the edge cases a muxer never makes (sizes 0 and 1, lying counts, odd
nesting) and the benchmark a ``moov`` of any number of samples without
encoding anything. Tables are packed with numpy, so a 200,000-sample
``moov`` takes milliseconds to write.

Movie fragments (§8.8): ``mvex``/``trex``, ``moof`` with ``traf``,
``tfhd``, ``tfdt`` and ``trun``, ``sidx``, and ``mfra`` with ``tfra`` and
``mfro``; :func:`fragment` lays out one ``moof`` + ``mdat`` pair with
every run's data offset filled in.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

__all__ = [
    "box",
    "co64",
    "ctts",
    "elst",
    "fragment",
    "full_box",
    "hdlr",
    "mdhd",
    "mfra",
    "moof",
    "mvex",
    "mvhd",
    "sample_entry",
    "sidx",
    "stco",
    "stsc",
    "stsd",
    "stss",
    "stsz",
    "stts",
    "synthetic_moov",
    "tfdt",
    "tfhd",
    "tfra",
    "tkhd",
    "traf",
    "trak",
    "trex",
    "trun",
]


def box(kind: bytes, *payload: bytes, size: int | None = None, large: bool = False) -> bytes:
    """A box of ``kind`` around ``payload``; ``size`` overrides the size field (0, lies...)."""
    body = b"".join(payload)
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(body) if size is None else size) + body
    return struct.pack(">I4s", 8 + len(body) if size is None else size, kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A full box (§4.2.2): version and flags before the payload."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def mvhd(timescale: int = 1000, duration: int = 0) -> bytes:
    rest = struct.pack(">IH", 0x00010000, 0x0100) + bytes(10) + bytes(36) + bytes(24)
    return full_box(
        b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, duration), rest, b"\0\0\0\2"
    )


def tkhd(track_id: int, width: int = 0, height: int = 0, duration: int = 0) -> bytes:
    fields = struct.pack(">IIIII", 0, 0, track_id, 0, duration) + bytes(8) + bytes(8) + bytes(36)
    return full_box(b"tkhd", 0, 3, fields, struct.pack(">II", width << 16, height << 16))


def mdhd(timescale: int, duration: int = 0, language: str = "und") -> bytes:
    code = 0
    for letter in language:
        code = (code << 5) | (ord(letter) - 0x60)
    return full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, code, 0))


def hdlr(handler: bytes) -> bytes:
    return full_box(b"hdlr", 0, 0, bytes(4), handler, bytes(12), b"torframes\0")


def sample_entry(
    code: bytes, *children: bytes, width: int = 320, height: int = 240, audio: bool = False
) -> bytes:
    """A visual (or ``audio``) sample entry with the given child boxes."""
    head = bytes(6) + struct.pack(">H", 1)
    if audio:
        fixed = struct.pack(">HHIHHHHI", 0, 0, 0, 2, 16, 0, 0, 48000 << 16)
    else:
        fixed = bytes(16) + struct.pack(">HH", width, height) + bytes(50)
    return box(code, head, fixed, *children)


def stsd(*entries: bytes) -> bytes:
    return full_box(b"stsd", 0, 0, struct.pack(">I", len(entries)), *entries)


def _runs(kind: bytes, rows: Sequence[Sequence[int]] | np.ndarray, fmt: str, version: int = 0):
    table = rows if isinstance(rows, np.ndarray) else np.array(rows, dtype=object)
    packed = table.astype(fmt).tobytes() if len(table) else b""
    return full_box(kind, version, 0, struct.pack(">I", len(table)), packed)


def stts(runs: Sequence[tuple[int, int]] | np.ndarray) -> bytes:
    return _runs(b"stts", runs, ">u4")


def ctts(runs: Sequence[tuple[int, int]] | np.ndarray, version: int = 0) -> bytes:
    """Composition offsets: unsigned counts, signed offsets (as FFmpeg reads both versions)."""
    table = np.zeros(len(runs), dtype=[("count", ">u4"), ("offset", ">i4")])
    if len(runs):
        pairs = np.array(runs, dtype=object).reshape(len(runs), 2)
        table["count"], table["offset"] = (
            pairs[:, 0].astype(np.uint32),
            pairs[:, 1].astype(np.int32),
        )
    return full_box(b"ctts", version, 0, struct.pack(">I", len(table)), table.tobytes())


def stss(numbers: Sequence[int] | np.ndarray) -> bytes:
    return _runs(b"stss", numbers, ">u4")


def stsz(sizes: Sequence[int] | np.ndarray | None = None, *, constant: int = 0, count: int = 0):
    if sizes is None:
        return full_box(b"stsz", 0, 0, struct.pack(">II", constant, count))
    packed = np.asarray(sizes, dtype=np.int64).astype(">u4").tobytes()
    return full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)), packed)


def stsc(runs: Sequence[tuple[int, int, int]] | np.ndarray) -> bytes:
    return _runs(b"stsc", runs, ">u4")


def stco(offsets: Sequence[int] | np.ndarray) -> bytes:
    return _runs(b"stco", offsets, ">u4")


def co64(offsets: Sequence[int] | np.ndarray) -> bytes:
    return _runs(b"co64", offsets, ">u8")


def elst(edits: Sequence[tuple[int, int]], version: int = 0) -> bytes:
    """An edit list of (segment duration, media time) entries at rate 1."""
    fmt = ">Qqhh" if version == 1 else ">Iihh"
    rows = b"".join(struct.pack(fmt, d, t, 1, 0) for d, t in edits)
    return box(b"edts", full_box(b"elst", version, 0, struct.pack(">I", len(edits)), rows))


def trak(
    track_id: int,
    *,
    handler: bytes = b"vide",
    timescale: int = 12288,
    entry: bytes | None = None,
    tables: Sequence[bytes] = (),
    edits: bytes = b"",
    width: int = 320,
    height: int = 240,
) -> bytes:
    """A ``trak``: ``tkhd``, optional ``edts``, and ``mdia`` with the given ``stbl`` tables."""
    if entry is None:
        entry = sample_entry(b"avc1", box(b"avcC", b"\x01\x64\x00\x0d\xff\xe0\x00"))
    stbl = box(b"stbl", stsd(entry), *tables)
    minf = box(b"minf", stbl)
    mdia = box(b"mdia", mdhd(timescale), hdlr(handler), minf)
    return box(b"trak", tkhd(track_id, width, height), edits, mdia)


def synthetic_moov(
    samples: int,
    *,
    first_offset: int = 48,
    per_chunk: int = 10,
    gop: int = 48,
    bframes: bool = True,
    sample_size: int = 1000,
    seed: int = 0,
) -> bytes:
    """A one-track ``moov`` with ``samples`` video samples laid out from ``first_offset``.

    Varying sample sizes, ``per_chunk`` samples per chunk, a sync sample
    every ``gop``, a ``ctts`` (B-frame-like offsets) and an edit list like
    FFmpeg's muxer writes. The samples end at ``first_offset + samples *
    sample_size`` at most.
    """
    rng = np.random.default_rng(seed)
    sizes = rng.integers(sample_size // 2, sample_size + 1, samples)
    chunks = -(-samples // per_chunk)
    ends = np.cumsum(sizes)
    offsets = first_offset + np.append(0, ends)[:samples:per_chunk][:chunks]
    tables = [
        stts([(samples, 512)]),
        stss(np.arange(1, samples + 1, gop)),
        stsz(sizes),
        stsc(
            [(1, per_chunk, 1)]
            if samples % per_chunk == 0
            else [(1, per_chunk, 1), (chunks, samples - (chunks - 1) * per_chunk, 1)]
        ),
        co64(offsets) if offsets[-1] >= 2**32 else stco(offsets),
    ]
    edits = b""
    if bframes:
        pattern = np.array([1024, 2560, 1024, 0, 512], dtype=np.int64)
        offsets_ctts = pattern[np.arange(samples) % len(pattern)]
        tables.insert(2, ctts(np.stack([np.ones(samples, dtype=np.int64), offsets_ctts], 1)))
        edits = elst([(samples * 512 * 1000 // 12288, 1024)])
    return box(b"moov", mvhd(1000), trak(1, tables=tables, edits=edits))


# -- movie fragments ------------------------------------------------------------


def trex(track_id: int, *, description: int = 1, duration: int = 0, size: int = 0, flags: int = 0):
    return full_box(
        b"trex", 0, 0, struct.pack(">IIIII", track_id, description, duration, size, flags)
    )


def mvex(*trexes: bytes, fragment_duration: int | None = None) -> bytes:
    mehd = b""
    if fragment_duration is not None:
        mehd = full_box(b"mehd", 1, 0, struct.pack(">Q", fragment_duration))
    return box(b"mvex", mehd, *trexes)


def tfhd(
    track_id: int,
    *,
    base: int | None = None,
    description: int | None = None,
    duration: int | None = None,
    size: int | None = None,
    flags: int | None = None,
    base_is_moof: bool = False,
    extra_flags: int = 0,
) -> bytes:
    """A ``tfhd``; each keyword given sets its flag (base_is_moof: 0x020000)."""
    bits, fields = extra_flags | (0x020000 if base_is_moof else 0), b""
    for bit, value, fmt in (
        (0x01, base, ">Q"),
        (0x02, description, ">I"),
        (0x08, duration, ">I"),
        (0x10, size, ">I"),
        (0x20, flags, ">I"),
    ):
        if value is not None:
            bits |= bit
            fields += struct.pack(fmt, value)
    return full_box(b"tfhd", 0, bits, struct.pack(">I", track_id), fields)


def tfdt(value: int, version: int = 1) -> bytes:
    return full_box(b"tfdt", version, 0, struct.pack(">Q" if version else ">I", value))


def trun(
    count: int | None = None,
    *,
    durations: Sequence[int] | np.ndarray | None = None,
    sizes: Sequence[int] | np.ndarray | None = None,
    flags: Sequence[int] | np.ndarray | None = None,
    cts: Sequence[int] | np.ndarray | None = None,
    data_offset: int | None = None,
    first_flags: int | None = None,
    version: int = 0,
) -> bytes:
    """A ``trun``; per-sample columns given set their flags (``cts`` signed)."""
    columns = [
        (0x100, durations, ">u4"),
        (0x200, sizes, ">u4"),
        (0x400, flags, ">u4"),
        (0x800, cts, ">i4"),
    ]
    present = [(bit, np.asarray(v, dtype=np.int64)) for bit, v, _ in columns if v is not None]
    n = count if count is not None else (len(present[0][1]) if present else 0)
    bits = sum(bit for bit, _ in present)
    table = np.zeros((n, len(present)), dtype=">u4")
    for i, (_bit, values) in enumerate(present):
        table[:, i] = (values % 2**32).astype(np.uint32)
    head = struct.pack(">I", n)
    if data_offset is not None:
        bits |= 0x01
        head += struct.pack(">i", data_offset)
    if first_flags is not None:
        bits |= 0x04
        head += struct.pack(">I", first_flags)
    return full_box(b"trun", version, bits, head, table.tobytes())


def traf(*children: bytes) -> bytes:
    return box(b"traf", *children)


def moof(sequence: int, *trafs: bytes) -> bytes:
    return box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), *trafs)


def fragment(sequence: int, runs: Sequence[dict], *, at: int = 0) -> tuple[bytes, list[int]]:
    """A ``moof`` + ``mdat`` pair at file offset ``at``, one ``traf`` per item of ``runs``.

    Each item: ``track_id``, ``sizes`` and optional ``durations``,
    ``flags``, ``cts``, ``first_flags``, ``tfdt`` (None: no ``tfdt``),
    ``tfhd`` (keywords for :func:`tfhd`; by default default-base-is-moof;
    ``base=True`` writes the absolute base-data-offset of the ``moof``),
    ``data_offset`` (False: none, the run starts at its base). Samples of
    the runs follow one another in the ``mdat`` (zeros); each run's data
    offset is set from its base as FFmpeg reads it: the ``moof`` start, or
    the end of the previous run's data for an implicit base. Returns the
    bytes and the file offset of each run's first sample.
    """
    lengths = [int(np.sum(spec["sizes"])) for spec in runs]

    def build(payload: int) -> bytes:
        trafs, data_at, previous_end = [], at + payload, at
        for spec, length in zip(runs, lengths, strict=True):
            header = dict(spec.get("tfhd", {"base_is_moof": True}))
            if header.get("base") is True:
                header["base"] = at
            base = at if "base" in header or header.get("base_is_moof") else previous_end
            children = [tfhd(spec["track_id"], **header)]
            if spec.get("tfdt") is not None:
                children.append(tfdt(spec["tfdt"]))
            offset = None if spec.get("data_offset") is False else data_at - base
            children.append(
                trun(
                    sizes=spec["sizes"],
                    durations=spec.get("durations"),
                    flags=spec.get("flags"),
                    cts=spec.get("cts"),
                    first_flags=spec.get("first_flags"),
                    data_offset=offset,
                )
            )
            trafs.append(traf(*children))
            previous_end = (data_at if offset is not None else base) + length
            data_at += length
        return moof(sequence, *trafs)

    size = len(build(0))
    starts = np.cumsum([0, *lengths])[:-1]
    return build(size + 8) + box(b"mdat", bytes(sum(lengths))), [
        at + size + 8 + int(s) for s in starts
    ]


def sidx(
    reference_id: int,
    timescale: int,
    refs: Sequence[tuple[int, int]],
    *,
    earliest: int = 0,
    first_offset: int = 0,
    version: int = 1,
    types: Sequence[int] | None = None,
) -> bytes:
    """A ``sidx`` of (referenced size, duration) references (all SAP type 1)."""
    fmt = ">QQ" if version == 1 else ">II"
    head = struct.pack(">II", reference_id, timescale) + struct.pack(fmt, earliest, first_offset)
    rows = b"".join(
        struct.pack(">III", ((types[i] if types else 0) << 31) | size, duration, 0x90000000)
        for i, (size, duration) in enumerate(refs)
    )
    return full_box(b"sidx", version, 0, head, struct.pack(">HH", 0, len(refs)), rows)


def tfra(track_id: int, entries: Sequence[tuple[int, int]], version: int = 1) -> bytes:
    """A ``tfra`` of (time, moof offset) entries, traf/trun/sample numbers of one byte."""
    fmt = ">QQBBB" if version == 1 else ">IIBBB"
    rows = b"".join(struct.pack(fmt, t, o, 1, 1, 1) for t, o in entries)
    return full_box(b"tfra", version, 0, struct.pack(">III", track_id, 0, len(entries)), rows)


def mfra(*tfras: bytes) -> bytes:
    """An ``mfra`` holding ``tfras`` and its ``mfro``."""
    body = b"".join(tfras)
    size = 8 + len(body) + 16
    return box(b"mfra", body, full_box(b"mfro", 0, 0, struct.pack(">I", size)))
