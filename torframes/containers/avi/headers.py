"""Readers for the header chunks of ``hdrl``: ``avih``, and per stream ``strh`` and ``strf``.

Each reader takes a chunk's data and checks its length before unpacking.
Clauses are those of the Microsoft AVI RIFF File Reference ("AVI Main
Header", "AVI Stream Headers", "AVI Stream Format"), with the structures
``AVIMAINHEADER``, ``AVISTREAMHEADER``, ``BITMAPINFOHEADER`` and
``WAVEFORMATEX``. Where FFmpeg's ``libavformat/avidec.c`` bends the rules
for files in the wild, the reader does the same and says so.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from torframes.errors import MalformedContainer

__all__ = [
    "AudioFormat",
    "MainHeader",
    "StreamHeader",
    "VideoFormat",
    "read_audio_format",
    "read_avih",
    "read_strh",
    "read_video_format",
]

_AVIH = struct.Struct("<10I")
_STRH = struct.Struct("<4s4sIHHIIIIIIII")
_BITMAPINFOHEADER = struct.Struct("<IiiHH4sIiiII")
_WAVEFORMATEX = struct.Struct("<HHIIHH")

#: ``AVIMAINHEADER.dwFlags``: the file's ``idx1`` must be used to find chunks.
AVIF_MUSTUSEINDEX = 0x20
#: Largest picture side accepted from a header.
MAX_SIDE = 1 << 16


@dataclass(frozen=True, slots=True)
class MainHeader:
    """``AVIMAINHEADER`` (the ``avih`` chunk): the fields used."""

    micro_sec_per_frame: int
    flags: int
    total_frames: int
    streams: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class StreamHeader:
    """``AVISTREAMHEADER`` (the ``strh`` chunk): the fields used.

    Time in a stream is counted in units of ``scale / rate`` seconds
    (``dwRate / dwScale`` is samples or frames per second); ``start`` and
    ``length`` are in those units; ``sample_size`` is 0 when samples vary in
    size (video, VBR audio).
    """

    type: bytes
    handler: bytes
    flags: int
    language: int
    scale: int
    rate: int
    start: int
    length: int
    sample_size: int


@dataclass(frozen=True, slots=True)
class VideoFormat:
    """``BITMAPINFOHEADER`` (``strf`` of a ``vids`` stream) and the codec data after it."""

    width: int
    height: int
    bit_count: int
    compression: bytes
    extradata: bytes


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """``WAVEFORMATEX`` (``strf`` of an ``auds`` stream): the fields used."""

    format_tag: int
    channels: int
    sample_rate: int
    block_align: int
    bits_per_sample: int


def read_avih(data: bytes | memoryview, offset: int) -> MainHeader:
    """``avih``: ``AVIMAINHEADER`` ("AVI Main Header"), 56 bytes; the first 40 are read."""
    if len(data) < _AVIH.size:
        raise MalformedContainer(f"'avih' of {len(data)} bytes, fewer than 40", offset=offset)
    period, _, _, flags, frames, _, streams, _, width, height = _AVIH.unpack_from(data)
    return MainHeader(period, flags, frames, streams, width, height)


def read_strh(data: bytes | memoryview, offset: int) -> StreamHeader:
    """``strh``: ``AVISTREAMHEADER`` ("AVI Stream Headers").

    48 bytes up to ``dwSampleSize``; ``rcFrame`` (8 more) is not used, so
    the 48-byte headers some old muxers write are accepted. A zero
    ``dwScale`` or ``dwRate`` is replaced as FFmpeg does (by the caller,
    who knows ``avih``); both are kept as read here.
    """
    if len(data) < _STRH.size:
        raise MalformedContainer(f"'strh' of {len(data)} bytes, fewer than 48", offset=offset)
    fields = _STRH.unpack_from(data)
    kind, handler, flags, _, language, _, scale, rate, start, length, _, _, sample_size = fields
    return StreamHeader(
        bytes(kind), bytes(handler), flags, language, scale, rate, start, length, sample_size
    )


def read_video_format(data: bytes | memoryview, offset: int) -> VideoFormat:
    """``strf`` of a video stream: ``BITMAPINFOHEADER`` (40 bytes), then codec data.

    As FFmpeg's ``avi_read_header``: everything after the 40 bytes is the
    codec's extradata (MPEG-4 Part 2 VOL headers, H.264 parameter sets...),
    except a trailing pad byte counted into ``biSize``; a negative height
    (a top-down bitmap) is read as its magnitude.
    """
    if len(data) < _BITMAPINFOHEADER.size:
        raise MalformedContainer(
            f"video 'strf' of {len(data)} bytes, shorter than BITMAPINFOHEADER", offset=offset
        )
    size, width, height, _, bit_count, compression, *_ = _BITMAPINFOHEADER.unpack_from(data)
    if not (0 <= width <= MAX_SIDE and -MAX_SIDE <= height <= MAX_SIDE):
        raise MalformedContainer(f"picture of {width}x{height} in 'strf'", offset=offset)
    extra = len(data) - _BITMAPINFOHEADER.size
    if size == len(data) - 1 and size & 1:
        extra = size - _BITMAPINFOHEADER.size
    extradata = bytes(data[_BITMAPINFOHEADER.size : _BITMAPINFOHEADER.size + max(0, extra)])
    return VideoFormat(width, abs(height), bit_count, bytes(compression), extradata)


def read_audio_format(data: bytes | memoryview, offset: int) -> AudioFormat:
    """``strf`` of an audio stream: ``WAVEFORMATEX``, its first 16 bytes (``cbSize`` on unused)."""
    if len(data) < 14:
        raise MalformedContainer(
            f"audio 'strf' of {len(data)} bytes, shorter than WAVEFORMAT", offset=offset
        )
    if len(data) < _WAVEFORMATEX.size:
        data = bytes(data) + b"\0\0"
    tag, channels, rate, _, block_align, bits = _WAVEFORMATEX.unpack_from(data)
    return AudioFormat(tag, channels, rate, block_align, bits)
