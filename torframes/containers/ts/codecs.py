"""Elementary streams: stream_type to codec, keyframes and parameter sets in the payload.

``stream_type`` values are those of ISO/IEC 13818-1 Table 2-34 (and ATSC
A/52 for AC-3). Video access units are Annex B byte streams (ITU-T H.264
§B.1, H.265 §B.2: start codes 00 00 01 before each NAL unit) or MPEG-2
video start codes (ISO/IEC 13818-2 §6.2). A random access point is, when
the adaptation field's ``random_access_indicator`` is not set:

* H.264: an IDR picture, ``nal_unit_type`` 5 (H.264 §7.4.1.2.3);
* HEVC: an IRAP picture, ``nal_unit_type`` 16..23 (H.265 §7.4.2.2);
* MPEG-2: a picture with ``picture_coding_type`` 1, I (13818-2 §6.3.9).

The decoder is configured from the parameter sets in-band: SPS and PPS
(and VPS for HEVC) or the MPEG-2 sequence header, found before the first
keyframe, given to FFmpeg as Annex B extradata.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from torframes.containers.ts.sps import sps_picture_size

__all__ = [
    "AUDIO_CODECS",
    "UNSEARCHED_VIDEO",
    "VIDEO_CODECS",
    "is_keyframe",
    "nal_units",
    "parameter_sets",
    "picture_size",
    "stream_codec",
]

#: Video stream_types: FFmpeg decoder name.
VIDEO_CODECS: dict[int, str] = {0x01: "mpeg1video", 0x02: "mpeg2video", 0x1B: "h264", 0x24: "hevc"}
#: Video stream_types whose keyframes this module does not find: FFmpeg decoder name.
UNSEARCHED_VIDEO: dict[int, str] = {0x10: "mpeg4", 0x42: "cavs", 0xD1: "dirac", 0xEA: "vc1"}
#: Audio stream_types: FFmpeg decoder name.
AUDIO_CODECS: dict[int, str] = {
    0x03: "mp3", 0x04: "mp3", 0x0F: "aac", 0x11: "aac_latm", 0x81: "ac3", 0x87: "eac3",
}  # fmt: skip
#: registration_descriptor format_identifiers of private streams (stream_type 6).
_REGISTERED: dict[bytes, tuple[str, str]] = {
    b"AC-3": ("audio", "ac3"),
    b"EAC3": ("audio", "eac3"),
    b"HEVC": ("video", "hevc"),
}


#: DVB descriptors naming the codec of a private stream (ETSI EN 300 468 Annex D, H).
_DVB_DESCRIPTORS: dict[int, tuple[str, str]] = {
    0x6A: ("audio", "ac3"),
    0x7A: ("audio", "eac3"),
    0x7B: ("audio", "dts"),
    0x7C: ("audio", "aac"),
}


def stream_codec(
    stream_type: int, registration: bytes | None, descriptors: Iterable[int] = ()
) -> tuple[str, str | None]:
    """``(kind, codec_name)`` of an elementary stream; kind ``"data"`` and None when unknown.

    A private stream (stream_type 6) is told by its registration_descriptor
    or the tags of its DVB descriptors (``descriptors``).
    """
    if stream_type in VIDEO_CODECS:
        return "video", VIDEO_CODECS[stream_type]
    if stream_type in UNSEARCHED_VIDEO:
        return "video", UNSEARCHED_VIDEO[stream_type]
    if stream_type in AUDIO_CODECS:
        return "audio", AUDIO_CODECS[stream_type]
    if registration in _REGISTERED:
        return _REGISTERED[registration]
    for tag in descriptors:
        if tag in _DVB_DESCRIPTORS:
            return _DVB_DESCRIPTORS[tag]
    return "data", None


def nal_units(data: bytes) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of each unit after a 00 00 01 start code (Annex B), in order."""
    pos = data.find(b"\x00\x00\x01")
    while pos != -1:
        start = pos + 3
        nxt = data.find(b"\x00\x00\x01", start)
        stop = len(data) if nxt == -1 else nxt
        yield start, stop
        pos = nxt


def _nal_type(codec: str, first: int) -> int:
    return (first >> 1) & 0x3F if codec == "hevc" else first & 0x1F


def is_keyframe(codec: str, data: bytes) -> bool | None:
    """Whether the access unit opening with ``data`` is a random access point.

    Decided by its first picture: True or False; None when ``data`` ends
    before a picture starts (or the codec is not one this module reads).
    """
    for start, stop in nal_units(data):
        if start >= stop:
            continue
        head = data[start]
        if codec == "h264":
            kind = head & 0x1F
            if kind == 5:
                return True
            if kind == 1:
                return False
        elif codec == "hevc":
            kind = (head >> 1) & 0x3F
            if 16 <= kind <= 23:
                return True
            if kind <= 9:
                return False
        elif codec in ("mpeg2video", "mpeg1video"):
            if head == 0x00 and start + 2 < len(data):
                return (data[start + 2] >> 3) & 0x07 == 1
        else:
            return None
    return None


#: nal_unit_types of parameter sets: H.264 SPS 7, PPS 8; HEVC VPS 32, SPS 33, PPS 34.
_PARAMETER_SETS = {"h264": (7, 8), "hevc": (32, 33, 34)}


def parameter_sets(codec: str, data: bytes) -> bytes | None:
    """The parameter sets in ``data`` as Annex B extradata (each after 00 00 00 01), or None.

    H.264 SPS/PPS, HEVC VPS/SPS/PPS; for MPEG-2 the sequence header and its
    extensions up to the first GOP or picture start code.
    """
    wanted = _PARAMETER_SETS.get(codec)
    found: list[bytes] = []
    for start, stop in nal_units(data):
        if start >= stop:
            continue
        if wanted is not None:
            if _nal_type(codec, data[start]) in wanted:
                found.append(b"\x00\x00\x00\x01" + data[start:stop].rstrip(b"\x00"))
        elif codec in ("mpeg2video", "mpeg1video"):
            code = data[start]
            if code == 0xB3 or (found and code == 0xB5):
                found.append(b"\x00\x00\x01" + data[start:stop])
            elif found:
                break
    return b"".join(found) or None


def picture_size(codec: str, extradata: bytes | None) -> tuple[int | None, int | None]:
    """Width and height from the parameter sets: the MPEG-2 sequence header
    (13818-2 §6.2.2.1) or the first H.264/HEVC SPS (:mod:`.sps`); else unknown."""
    if not extradata:
        return None, None
    if codec in ("mpeg2video", "mpeg1video") and len(extradata) >= 7:
        b = extradata[3:]
        if b[0] == 0xB3:
            return (b[1] << 4) | (b[2] >> 4), ((b[2] & 0x0F) << 8) | b[3]
    if codec in _PARAMETER_SETS:
        sps_type = _PARAMETER_SETS[codec][-2]
        for start, stop in nal_units(extradata):
            if start < stop and _nal_type(codec, extradata[start]) == sps_type:
                size = sps_picture_size(codec, extradata[start:stop])
                return size if size is not None else (None, None)
    return None, None
