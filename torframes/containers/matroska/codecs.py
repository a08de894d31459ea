"""From a TrackEntry to FFmpeg's decoder name and extradata.

Follows FFmpeg's ``libavformat/matroskadec.c`` (``matroska_parse_tracks``):
CodecID prefixes map to codecs (its ``ff_mkv_codec_tags``), CodecPrivate
becomes extradata as is for most codecs, ``V_MS/VFW/FOURCC`` carries a
BITMAPINFOHEADER whose biCompression fourcc names the codec,
``A_MS/ACM`` a WAVEFORMATEX, VP9's CodecPrivate is not exported, and AAC
without CodecPrivate gets an AudioSpecificConfig made from the CodecID.
Header stripping (ContentCompAlgo 3, RFC 9559 "ContentCompAlgo") becomes
:attr:`DecoderConfig.sample_prefix`.
"""

from __future__ import annotations

import zlib

from torframes.containers.base import DecoderConfig
from torframes.containers.matroska.tracks import TrackEntry

__all__ = ["codec_name", "decoder_config"]

#: CodecID prefixes -> FFmpeg codec names, most specific first (RFC 9559
#: codec mappings; FFmpeg's ``ff_mkv_codec_tags``). As for MP4, ``av1`` names
#: the codec: the decode stage picks libdav1d (FFmpeg's native ``av1``
#: decoder needs a hardware accelerator).
CODEC_IDS: tuple[tuple[str, str], ...] = (
    ("V_MPEG4/ISO/AVC", "h264"),
    ("V_MPEGH/ISO/HEVC", "hevc"),
    ("V_MPEGI/ISO/VVC", "vvc"),
    ("V_AV1", "av1"),
    ("V_VP9", "vp9"),
    ("V_VP8", "vp8"),
    ("V_MPEG4/ISO/ASP", "mpeg4"),
    ("V_MPEG4/ISO/SP", "mpeg4"),
    ("V_MPEG4/ISO/AP", "mpeg4"),
    ("V_MPEG4/MS/V3", "msmpeg4v3"),
    ("V_MPEG1", "mpeg1video"),
    ("V_MPEG2", "mpeg2video"),
    ("V_MJPEG", "mjpeg"),
    ("V_THEORA", "theora"),
    ("V_PRORES", "prores"),
    ("V_FFV1", "ffv1"),
    ("V_DIRAC", "dirac"),
    ("V_REAL/RV10", "rv10"),
    ("V_REAL/RV20", "rv20"),
    ("V_REAL/RV30", "rv30"),
    ("V_REAL/RV40", "rv40"),
    ("V_UNCOMPRESSED", "rawvideo"),
    ("A_AAC", "aac"),
    ("A_OPUS", "opus"),
    ("A_VORBIS", "vorbis"),
    ("A_FLAC", "flac"),
    ("A_MPEG/L3", "mp3"),
    ("A_MPEG/L2", "mp2"),
    ("A_MPEG/L1", "mp1"),
    ("A_AC3", "ac3"),
    ("A_EAC3", "eac3"),
    ("A_DTS", "dca"),
    ("A_TRUEHD", "truehd"),
    ("A_MLP", "mlp"),
    ("A_ALAC", "alac"),
    ("A_TTA1", "tta"),
    ("A_WAVPACK4", "wavpack"),
    ("A_PCM/INT/LIT", "pcm_s16le"),
    ("A_PCM/INT/BIG", "pcm_s16be"),
    ("A_PCM/FLOAT/IEEE", "pcm_f32le"),
    ("S_TEXT/UTF8", "subrip"),
    ("S_TEXT/ASS", "ass"),
    ("S_TEXT/SSA", "ass"),
    ("S_TEXT/WEBVTT", "webvtt"),
    ("S_VOBSUB", "dvdsub"),
    ("S_HDMV/PGS", "pgssub"),
    ("S_DVBSUB", "dvbsub"),
)

#: BITMAPINFOHEADER biCompression fourccs (FFmpeg's ``ff_codec_bmp_tags``, abridged).
VFW_FOURCCS: dict[bytes, str] = {
    **dict.fromkeys((b"H264", b"h264", b"X264", b"x264", b"AVC1", b"avc1", b"DAVC"), "h264"),
    **dict.fromkeys((b"HEVC", b"hevc", b"H265", b"h265", b"X265", b"hvc1", b"hev1"), "hevc"),
    **dict.fromkeys((b"XVID", b"xvid", b"DIVX", b"divx", b"DX50", b"FMP4", b"fmp4"), "mpeg4"),
    **dict.fromkeys((b"MP4V", b"mp4v", b"3IV2", b"M4S2", b"RMP4", b"DXGM"), "mpeg4"),
    **dict.fromkeys((b"DIV3", b"div3", b"MP43", b"mp43", b"DIV4", b"DIV5", b"AP41"), "msmpeg4v3"),
    **dict.fromkeys((b"MP42", b"mp42", b"DIV2"), "msmpeg4v2"),
    **dict.fromkeys((b"MPG4", b"mpg4", b"MP41"), "msmpeg4v1"),
    **dict.fromkeys((b"MPG1", b"mpg1"), "mpeg1video"),
    **dict.fromkeys((b"MPG2", b"mpg2", b"MPEG", b"mpeg"), "mpeg2video"),
    **dict.fromkeys((b"MJPG", b"mjpg", b"AVRn", b"JPGL"), "mjpeg"),
    b"WMV1": "wmv1",
    b"WMV2": "wmv2",
    b"WMV3": "wmv3",
    b"WVC1": "vc1",
    b"VP80": "vp8",
    b"VP90": "vp9",
    b"AV01": "av1",
    b"FFV1": "ffv1",
    b"HFYU": "huffyuv",
    b"FFVH": "ffvhuff",
    b"SVQ1": "svq1",
    b"theo": "theora",
}

#: WAVEFORMATEX wFormatTag values (FFmpeg's ``ff_codec_wav_tags``, abridged).
ACM_TAGS: dict[int, str] = {
    0x0001: "pcm_s16le",
    0x0003: "pcm_f32le",
    0x0050: "mp2",
    0x0055: "mp3",
    0x00FF: "aac",
    0x0160: "wmav1",
    0x0161: "wmav2",
    0x0162: "wmapro",
    0x1610: "aac",
    0x2000: "ac3",
    0x2001: "dca",
    0x706D: "aac",
    0xF1AC: "flac",
}

#: AAC sampling frequencies by index (ISO/IEC 14496-3 Table 1.18).
AAC_RATES = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)

#: Most bytes a zlib-compressed CodecPrivate may inflate to.
MAX_CODEC_PRIVATE = 16 * 1024 * 1024


def codec_name(codec_id: str) -> str | None:
    """FFmpeg's decoder name for a CodecID, by prefix; None when unknown."""
    for prefix, name in CODEC_IDS:
        if codec_id.startswith(prefix):
            return name
    return None


def decoder_config(track: TrackEntry) -> tuple[DecoderConfig, list[str]]:
    """The decoder configuration of a track, and notes on what could not be honoured.

    Like FFmpeg, one ContentEncoding is supported: header stripping of the
    frames (their common prefix, put back by the decoder) or of
    CodecPrivate, and zlib compression of CodecPrivate. Frames that are
    compressed otherwise or encrypted get no decoder (``codec_name`` None).
    """
    notes: list[str] = []
    private, prefix = track.codec_private, None
    where = f"track {track.number}"
    if len(track.encodings) > 1:
        notes.append(f"{where}: {len(track.encodings)} combined ContentEncodings not supported")
        return _config(track, None, private, None), notes
    for encoding in track.encodings:
        algorithm = 0 if encoding.algorithm is None else encoding.algorithm
        if encoding.kind != 0:
            notes.append(f"{where}: encrypted frames cannot be decoded")
            return _config(track, None, private, None), notes
        if encoding.scope & 2 and private is not None:
            if algorithm == 0:
                private = _inflate(private)
            elif algorithm == 3:
                private = encoding.settings + private
        if encoding.scope & 1:
            if algorithm != 3:
                notes.append(f"{where}: frames compressed with ContentCompAlgo {algorithm}")
                return _config(track, None, private, None), notes
            prefix = encoding.settings or None
    name, extradata, width, height = _codec(track, private)
    if name is None:
        notes.append(f"{where}: no FFmpeg decoder known for {track.codec_id!r}")
    elif track.codec_id == "V_MS/VFW/FOURCC":
        notes.append(f"{where}: V_MS/VFW/FOURCC block timestamps are decoding times (as in AVI)")
    return _config(track, name, extradata, prefix, width, height), notes


def _config(
    track: TrackEntry,
    name: str | None,
    extradata: bytes | None,
    prefix: bytes | None,
    width: int | None = None,
    height: int | None = None,
) -> DecoderConfig:
    return DecoderConfig(
        track_id=track.number,
        codec_name=name,
        extradata=extradata or None,
        width=track.pixel_width or width,
        height=track.pixel_height or height,
        sample_prefix=prefix,
    )


def _codec(
    track: TrackEntry, private: bytes | None
) -> tuple[str | None, bytes | None, int | None, int | None]:
    """Decoder name, extradata, and the dimensions a BITMAPINFOHEADER gives."""
    codec_id = track.codec_id
    if codec_id == "V_MS/VFW/FOURCC":
        if private is None or len(private) < 40:
            return None, None, None, None
        width = int.from_bytes(private[4:8], "little", signed=True)
        height = int.from_bytes(private[8:12], "little", signed=True)
        name = VFW_FOURCCS.get(bytes(private[16:20]))
        return name, private[40:], abs(width) or None, abs(height) or None
    if codec_id == "A_MS/ACM":
        if private is None or len(private) < 18:
            return None, None, None, None
        tag = int.from_bytes(private[0:2], "little")
        if tag == 0xFFFE and len(private) >= 26:  # WAVE_FORMAT_EXTENSIBLE: SubFormat GUID
            tag = int.from_bytes(private[24:26], "little")
        return ACM_TAGS.get(tag), private[18:], None, None
    name = codec_name(codec_id)
    if name == "vp9":
        return name, None, None, None  # FFmpeg drops VP9's CodecPrivate (codec features)
    if name == "aac" and not private:
        return name, _aac_config(track), None, None
    if name == "pcm_s16le" or name == "pcm_s16be":
        name = _pcm_name(name, track.bit_depth)
    return name, private, None, None


def _pcm_name(name: str, bits: int | None) -> str:
    endian = name[-2:]
    if bits == 8:
        return "pcm_u8"
    if bits in (24, 32):
        return f"pcm_s{bits}{endian}"
    return name


def _aac_config(track: TrackEntry) -> bytes:
    """AudioSpecificConfig from an ``A_AAC/MPEGx/PROFILE`` CodecID, as FFmpeg makes it."""
    profiles = {"MAIN": 1, "LC": 2, "SSR": 3}
    parts = track.codec_id.split("/")
    profile = next((profiles[p] for p in parts if p in profiles), 2)
    rate = track.sampling_frequency or 48000.0
    index = min(range(len(AAC_RATES)), key=lambda i: abs(AAC_RATES[i] - rate))
    channels = min(track.channels or 2, 15)
    config = bytes(((profile << 3) | (index >> 1), ((index & 1) << 7) | (channels << 3)))
    if "SBR" in parts:
        out = track.output_sampling_frequency or rate * 2
        out_index = min(range(len(AAC_RATES)), key=lambda i: abs(AAC_RATES[i] - out))
        config += bytes((0x56, 0xE5, 0x80 | (out_index << 3)))
    return config


def _inflate(data: bytes) -> bytes | None:
    """A zlib-compressed CodecPrivate, inflated to at most :data:`MAX_CODEC_PRIVATE` bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_CODEC_PRIVATE)
    except zlib.error:
        return None
    return out if not inflater.unconsumed_tail else None
