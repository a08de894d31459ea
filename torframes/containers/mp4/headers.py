"""Movie and track header boxes: ``mvhd``, ``tkhd``, ``mdhd``, ``hdlr``, ``elst``.

One reader per box, each given a :class:`~torframes.containers.mp4.boxes.Reader`
over the box payload and returning a small frozen record. Clause numbers
are those of ISO/IEC 14496-12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torframes.containers.mp4.boxes import Reader
from torframes.errors import MalformedContainer

__all__ = [
    "EditList",
    "Mdhd",
    "Mvhd",
    "Tkhd",
    "read_elst",
    "read_hdlr",
    "read_mdhd",
    "read_mvhd",
    "read_tkhd",
]


def _version(r: Reader, highest: int = 1) -> int:
    at = r.offset
    version, _ = r.full_box()
    if version > highest:
        raise MalformedContainer(f"'{r.what}' version {version} is unknown", offset=at)
    return version


@dataclass(frozen=True, slots=True)
class Mvhd:
    timescale: int
    duration: int


def read_mvhd(r: Reader) -> Mvhd:
    """Movie header, §8.2.2: the movie timescale edit list durations are counted in.

    Version 1 has 64-bit times and duration, version 0 32-bit ones.
    """
    if _version(r) == 1:
        r.skip(16)
        return Mvhd(r.u32(), r.u64())
    r.skip(8)
    return Mvhd(r.u32(), r.u32())


@dataclass(frozen=True, slots=True)
class Tkhd:
    track_id: int
    flags: int
    duration: int
    width: float
    height: float


def read_tkhd(r: Reader) -> Tkhd:
    """Track header, §8.3.2: track ID, duration in the movie timescale, display size.

    Width and height are 16.16 fixed point, after the layer, volume and the
    3x3 matrix.
    """
    at = r.offset
    version, flags = r.full_box()
    if version > 1:
        raise MalformedContainer(f"'tkhd' version {version} is unknown", offset=at)
    r.skip(16 if version == 1 else 8)
    track_id = r.u32()
    r.skip(4)
    duration = r.u64() if version == 1 else r.u32()
    r.skip(8 + 2 + 2 + 2 + 2 + 36)
    width, height = r.u32(), r.u32()
    return Tkhd(track_id, flags, duration, width / 65536, height / 65536)


@dataclass(frozen=True, slots=True)
class Mdhd:
    timescale: int
    duration: int
    language: str | None


#: Macintosh language codes (QuickTime ``mdhd`` values below 0x400) -> ISO 639-2,
#: the first entries of FFmpeg's ``mov_mdhd_language_map``.
_MAC_LANGUAGES = [
    "eng",
    "fra",
    "ger",
    "ita",
    "dut",
    "sve",
    "spa",
    "dan",
    "por",
    "nor",
    "heb",
    "jpn",
    "ara",
    "fin",
    "gre",
    "ice",
    "mlt",
    "tur",
    "hrv",
    "chi",
    "urd",
    "hin",
    "tha",
    "kor",
    "lit",
    "pol",
    "hun",
    "est",
    "lav",
    "smi",
    "fao",
    "fas",
    "rus",
    "chi",
    "nld",
    "gle",
    "alb",
    "ron",
    "ces",
    "slk",
    "slv",
    "yid",
    "srp",
    "mac",
    "bul",
    "ukr",
    "bel",
    "uzb",
    "kaz",
    "aze",
    "aze",
    "arm",
    "geo",
    "mol",
    "kir",
    "tgk",
    "tuk",
    "mon",
    "mon",
    "pus",
    "kur",
    "kas",
    "snd",
    "tib",
    "nep",
    "san",
    "mar",
    "ben",
    "asm",
    "guj",
    "pan",
    "ori",
    "mal",
    "kan",
    "tam",
    "tel",
    "sin",
    "bur",
    "khm",
    "lao",
    "vie",
    "ind",
    "tgl",
    "may",
    "may",
    "amh",
    "tir",
    "orm",
    "som",
    "swa",
    "kin",
    "run",
    "nya",
    "mlg",
    "epo",
]


def mdhd_language(code: int) -> str | None:
    """The ISO 639-2/T code packed in an ``mdhd`` language field (§8.4.2.3).

    Three 5-bit letters offset by 0x60; values below 0x400 are Macintosh
    language codes (QuickTime), 0x7FFF means none.
    """
    if code == 0x7FFF:
        return None
    if code < 0x400:
        return _MAC_LANGUAGES[code] if code < len(_MAC_LANGUAGES) else None
    letters = [((code >> shift) & 0x1F) + 0x60 for shift in (10, 5, 0)]
    if not all(0x61 <= c <= 0x7A for c in letters):
        return None
    return bytes(letters).decode("ascii")


def read_mdhd(r: Reader) -> Mdhd:
    """Media header, §8.4.2: the timescale every sample time is counted in, duration, language."""
    if _version(r) == 1:
        r.skip(16)
        timescale, duration = r.u32(), r.u64()
    else:
        r.skip(8)
        timescale, duration = r.u32(), r.u32()
    return Mdhd(timescale, duration, mdhd_language(r.u16()))


def read_hdlr(r: Reader) -> bytes:
    """Handler reference, §8.4.3: the handler type (``vide``, ``soun``, ...).

    QuickTime's component type (``mhlr``) sits where ISO has ``pre_defined``.
    """
    r.full_box()
    r.skip(4)
    return r.bytes(4)


@dataclass(frozen=True, slots=True)
class EditList:
    """Edit list entries as read: ``duration`` in the movie timescale,
    ``media_time`` in the media timescale (-1: an empty edit), ``rate`` 16.16."""

    duration: np.ndarray
    media_time: np.ndarray
    rate: np.ndarray

    def __len__(self) -> int:
        return len(self.duration)


def read_elst(r: Reader) -> EditList:
    """Edit list, §8.6.6: (segment duration, media time, media rate) per edit.

    Version 1 has 64-bit durations and times. Durations are unsigned and
    media times signed; a duration that does not fit 63 bits is rejected.
    """
    version = _version(r)
    if version == 1:
        n = r.count(20, "edits")
        table = r.array(">u8,>i8,>i4", n) if n else np.zeros(0, ">u8,>i8,>i4")
        at = r.offset
        durations = table["f0"]
        if (durations > np.uint64(2**62)).any():
            raise MalformedContainer("'elst' segment duration does not fit 62 bits", offset=at)
        return EditList(durations.astype(np.int64), table["f1"].astype(np.int64), table["f2"])
    n = r.count(12, "edits")
    table = r.array(">u4,>i4,>i4", n) if n else np.zeros(0, ">u4,>i4,>i4")
    return EditList(
        table["f0"].astype(np.int64), table["f1"].astype(np.int64), table["f2"].astype(np.int64)
    )
