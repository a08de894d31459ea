"""A minimal MP4 box writer, for synthetic files in tests and benchmarks.

Not a muxer: it writes exactly the boxes it is given, so tests can build
the edge cases a muxer never makes (sizes 0 and 1, lying counts, odd
nesting) and the benchmark a ``moov`` of any number of samples without
encoding anything. Tables are packed with numpy, so a 200,000-sample
``moov`` takes milliseconds to write.
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
    "full_box",
    "hdlr",
    "mdhd",
    "mvhd",
    "sample_entry",
    "stco",
    "stsc",
    "stsd",
    "stss",
    "stsz",
    "stts",
    "synthetic_moov",
    "tkhd",
    "trak",
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
