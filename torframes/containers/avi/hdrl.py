"""The ``hdrl`` list: the main header and one ``strl`` list per stream.

Microsoft AVI RIFF File Reference, "AVI RIFF Form": ``hdrl`` holds ``avih``
then, per stream in stream-number order, a ``strl`` list of ``strh``,
``strf``, optional ``strd`` (codec data) and ``strn`` (name); OpenDML 1.02
adds ``indx`` (the stream's super index) to ``strl`` and an ``odml`` list
with ``dmlh`` to ``hdrl``. Unknown chunks (``JUNK``, ``vprp``...) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.containers.avi.headers import (
    AudioFormat,
    MainHeader,
    StreamHeader,
    VideoFormat,
    read_audio_format,
    read_avih,
    read_strh,
    read_video_format,
)
from torframes.containers.avi.indexes import OdmlIndex, read_odml_index
from torframes.containers.avi.riff import iter_chunks
from torframes.errors import MalformedContainer

__all__ = ["MAX_STREAMS", "Header", "Stream", "read_hdrl"]

#: Streams an AVI file can number (chunk IDs carry two decimal digits).
MAX_STREAMS = 100

_KINDS = {b"vids": "video", b"auds": "audio", b"txts": "subtitle", b"dats": "data"}


@dataclass(frozen=True, slots=True)
class Stream:
    """One ``strl``: its number, header, format and index, if any.

    ``scale``/``rate`` are ``strh``'s, replaced as FFmpeg replaces zeros:
    by ``avih``'s frame period in microseconds, else 1/25.
    """

    number: int
    kind: str
    header: StreamHeader
    scale: int
    rate: int
    video: VideoFormat | None
    audio: AudioFormat | None
    extradata: bytes
    indx: OdmlIndex | None


@dataclass(frozen=True, slots=True)
class Header:
    """What ``hdrl`` says: the main header and the streams."""

    main: MainHeader | None
    streams: tuple[Stream, ...]


def read_hdrl(data: bytes | memoryview, start: int, file_size: int, max_entries: int) -> Header:
    """Read ``hdrl``, whose data ``[start, start + len(data))`` is ``data``."""
    main = None
    streams: list[Stream] = []
    for chunk in iter_chunks(data, start, start, start + len(data)):
        body = data[chunk.data - start : chunk.stop - start]
        if chunk.fourcc == b"avih":
            main = read_avih(body, chunk.start)
        elif chunk.form == b"strl":
            if len(streams) == MAX_STREAMS:
                raise MalformedContainer(f"more than {MAX_STREAMS} streams", offset=chunk.start)
            streams.append(_read_strl(body, chunk.data, len(streams), main, file_size, max_entries))
    return Header(main, tuple(streams))


def _read_strl(
    data: bytes | memoryview,
    start: int,
    number: int,
    main: MainHeader | None,
    file_size: int,
    max_entries: int,
) -> Stream:
    """One ``strl`` list: ``strh`` first, then ``strf``, ``strd``, ``indx``."""
    header = None
    video = audio = indx = None
    extradata = b""
    strd = b""
    for chunk in iter_chunks(data, start, start, start + len(data)):
        body = data[chunk.data - start : chunk.stop - start]
        if chunk.fourcc == b"strh" and header is None:
            header = read_strh(body, chunk.start)
        elif chunk.fourcc == b"strf" and header is not None and video is None and audio is None:
            if header.type == b"vids":
                video = read_video_format(body, chunk.start)
                extradata = video.extradata
            elif header.type == b"auds":
                audio = read_audio_format(body, chunk.start)
        elif chunk.fourcc == b"strd":
            strd = bytes(body)
        elif chunk.fourcc == b"indx" and indx is None:
            indx = read_odml_index(body, chunk.start, file_size, max_entries)
    if header is None:
        raise MalformedContainer(f"stream {number} has no 'strh'", offset=start)
    if not extradata and video is not None and video.compression.upper() != b"H264":
        extradata = strd  # FFmpeg: strd is the codec data unless strf had some, or H.264
    scale, rate = header.scale, header.rate
    if not (scale and rate):
        period = main.micro_sec_per_frame if main is not None else 0
        scale, rate = (period, 1_000_000) if period else (1, 25)
    kind = _KINDS.get(header.type, "data")
    return Stream(number, kind, header, scale, rate, video, audio, extradata, indx)
