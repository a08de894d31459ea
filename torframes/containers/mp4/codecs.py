"""Sample entry codes -> FFmpeg decoder names, and decoder configuration as FFmpeg wants it.

The names are those both FFmpeg's codec descriptor and its native decoder
use (``h264``, ``hevc``, ``av1``, ``vp9``, ``aac``...), so
``av.CodecContext.create(name, "r")`` finds a decoder. An MPEG-4 elementary
stream descriptor (``esds``, ISO/IEC 14496-1 §7.2.6) names the codec by its
``objectTypeIndication`` and carries the DecoderSpecificInfo FFmpeg uses as
extradata (the AudioSpecificConfig of AAC, the VOL header of MPEG-4 Part 2).
"""

from __future__ import annotations

import struct

__all__ = [
    "OBJECT_TYPES",
    "SAMPLE_ENTRY_CODECS",
    "codec_name",
    "opus_head",
    "parse_esds",
]

#: Sample entry fourcc -> FFmpeg decoder name.
SAMPLE_ENTRY_CODECS: dict[bytes, str] = {
    b"avc1": "h264", b"avc2": "h264", b"avc3": "h264", b"avc4": "h264",
    b"dva1": "h264", b"dvav": "h264",
    b"hvc1": "hevc", b"hev1": "hevc", b"dvh1": "hevc", b"dvhe": "hevc",
    b"vvc1": "vvc", b"vvi1": "vvc",
    b"av01": "av1", b"vp09": "vp9", b"vp08": "vp8", b"mp4v": "mpeg4",
    b"s263": "h263", b"h263": "h263", b"jpeg": "mjpeg", b"mjpa": "mjpeg",
    b"apch": "prores", b"apcn": "prores", b"apcs": "prores", b"apco": "prores",
    b"ap4h": "prores", b"ap4x": "prores",
    b"mp4a": "aac", b"Opus": "opus", b"ac-3": "ac3", b"ec-3": "eac3",
    b"fLaC": "flac", b"alac": "alac", b".mp3": "mp3",
    b"sowt": "pcm_s16le", b"twos": "pcm_s16be", b"in24": "pcm_s24be",
    b"in32": "pcm_s32be", b"fl32": "pcm_f32be", b"fl64": "pcm_f64be",
    b"ulaw": "pcm_mulaw", b"alaw": "pcm_alaw", b"raw ": "pcm_u8",
    b"ima4": "adpcm_ima_qt", b"MAC3": "mace3", b"MAC6": "mace6", b"agsm": "gsm",
    b"tx3g": "mov_text", b"wvtt": "webvtt",
}  # fmt: skip

#: ``esds`` objectTypeIndication -> FFmpeg decoder name (FFmpeg ``ff_mp4_obj_type``).
OBJECT_TYPES: dict[int, str] = {
    0x20: "mpeg4", 0x21: "h264", 0x23: "hevc",
    0x40: "aac", 0x66: "aac", 0x67: "aac", 0x68: "aac",
    0x60: "mpeg2video", 0x61: "mpeg2video", 0x62: "mpeg2video", 0x63: "mpeg2video",
    0x64: "mpeg2video", 0x65: "mpeg2video", 0x6A: "mpeg1video",
    0x69: "mp3", 0x6B: "mp3", 0x6C: "mjpeg", 0x6D: "png",
    0xA5: "ac3", 0xA6: "eac3", 0xA9: "dca", 0xAD: "opus", 0xDD: "vorbis",
}  # fmt: skip


def codec_name(code: bytes, object_type: int | None = None) -> str | None:
    """FFmpeg's decoder name for a sample entry, refined by its ``esds`` object type."""
    if object_type is not None and object_type in OBJECT_TYPES:
        return OBJECT_TYPES[object_type]
    return SAMPLE_ENTRY_CODECS.get(bytes(code))


#: Bits per sample of FFmpeg's PCM codecs (``av_get_bits_per_sample``).
PCM_BITS: dict[str, int] = {
    "pcm_s8": 8, "pcm_u8": 8, "pcm_mulaw": 8, "pcm_alaw": 8,
    "pcm_s16le": 16, "pcm_s16be": 16, "pcm_s24le": 24, "pcm_s24be": 24,
    "pcm_s32le": 32, "pcm_s32be": 32, "pcm_f32le": 32, "pcm_f32be": 32,
    "pcm_f64le": 64, "pcm_f64be": 64,
}  # fmt: skip


def pcm_bits(name: str | None) -> int:
    return PCM_BITS.get(name or "", 0)


def audio_codec(
    name: str | None, code: bytes, bits: int, lpcm_flags: int, little_endian: bool
) -> str | None:
    """FFmpeg's PCM refinements (``mov_parse_stsd_audio``, ``mov_read_enda``).

    ``lpcm`` (sound description v2) is named by its bits and format flags;
    ``twos``/``sowt``/``raw `` by the entry's sample size field; an ``enda``
    of 1 makes big-endian PCM little-endian.
    """
    if code == b"lpcm":
        width = {8: "8", 16: "16", 24: "24", 32: "32", 64: "64"}.get(bits)
        if width is None:
            return None
        if lpcm_flags & 1:
            name = f"pcm_f{width}" if bits in (32, 64) else None
        elif bits == 8:
            return "pcm_s8" if lpcm_flags & 4 else "pcm_u8"
        else:
            name = f"pcm_s{width}" if bits != 64 else None
        if name is None:
            return None
        name += "be" if lpcm_flags & 2 else "le"
    elif name in ("pcm_s8", "pcm_u8") and bits == 16:
        name = "pcm_s16be"
    elif name in ("pcm_s16le", "pcm_s16be") and bits in (8, 24, 32):
        name = "pcm_s8" if bits == 8 else f"pcm_s{bits}{name[-2:]}"
    if little_endian and name in ("pcm_s24be", "pcm_s32be", "pcm_f32be", "pcm_f64be"):
        name = name[:-2] + "le"
    return name


def frame_layout(name: str | None, samples: int, size: int, channels: int) -> tuple[int, int]:
    """FFmpeg's samples and bytes per frame: fixed for MACE, IMA4 and GSM, else as written."""
    fixed = {
        "mace3": (6, 2 * channels),
        "mace6": (6, channels),
        "adpcm_ima_qt": (64, 34 * channels),
        "gsm": (160, 33),
    }
    return fixed.get(name or "", (samples, size))


def _descriptor(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(tag, payload start, payload end) of the descriptor at ``pos`` (§8.3.3 expandable size)."""
    if pos >= len(data):
        return None
    tag, pos, length = data[pos], pos + 1, 0
    for _ in range(4):
        if pos >= len(data):
            return None
        byte = data[pos]
        pos += 1
        length = (length << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return tag, pos, min(pos + length, len(data))


def parse_esds(payload: bytes) -> tuple[int | None, bytes | None]:
    """(objectTypeIndication, DecoderSpecificInfo) from an ``esds`` payload.

    Walks ES_Descriptor (tag 3) -> DecoderConfigDescriptor (tag 4) ->
    DecoderSpecificInfo (tag 5), as FFmpeg's ``ff_mp4_read_dec_config_descr``.
    Lengths are clipped to the bytes present; what is missing is None.
    """
    data = bytes(payload[4:])  # version and flags
    es = _descriptor(data, 0)
    if es is None or es[0] != 0x03 or es[2] - es[1] < 3:
        return None, None
    pos = es[1] + 2
    flags = data[pos]  # es[2] - es[1] >= 3: present
    pos += 1
    if flags & 0x80:
        pos += 2
    if flags & 0x40 and pos < len(data):
        pos += 1 + data[pos]
    if flags & 0x20:
        pos += 2
    config = _descriptor(data, pos)
    if config is None or config[0] != 0x04 or config[2] - config[1] < 13:
        return None, None
    object_type = data[config[1]]
    info = _descriptor(data, config[1] + 13)
    if info is None or info[0] != 0x05 or info[2] > config[2]:
        return object_type, None
    return object_type, data[info[1] : info[2]] or None


def opus_head(payload: bytes) -> bytes | None:
    """The ``OpusHead`` FFmpeg builds from an Opus ``dOps`` payload (``mov_read_dops``).

    ``dOps`` is big-endian, ``OpusHead`` little-endian: pre-skip, input
    sample rate and output gain are byte-swapped; the rest is copied.
    """
    if len(payload) < 11 or payload[0] != 0:
        return None
    head = bytearray(b"OpusHead\x01" + bytes(payload[1:]))
    pre_skip, rate, gain = struct.unpack_from(">HIh", head, 10)
    struct.pack_into("<HIh", head, 10, pre_skip, rate, gain)
    return bytes(head)
