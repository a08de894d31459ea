"""AVI codec codes to FFmpeg decoders, and each video stream's decoder configuration.

Video streams name their codec by ``BITMAPINFOHEADER.biCompression``, a
FOURCC; audio streams by ``WAVEFORMATEX.wFormatTag``. The tables below are
the common entries of FFmpeg's ``ff_codec_bmp_tags`` and
``ff_codec_wav_tags`` (``libavformat/riff.c``); FOURCCs are compared in
upper case, as FFmpeg's fallback lookup does. An AVI stream's extradata is
what follows ``BITMAPINFOHEADER`` in ``strf`` (or, failing that, the ``strd``
chunk): MPEG-4 Part 2 VOL headers or H.264 parameter sets when the muxer
put them there; most files carry them in-band before every keyframe.
"""

from __future__ import annotations

from torframes.containers.avi.headers import AudioFormat, VideoFormat
from torframes.containers.base import DecoderConfig

__all__ = ["audio_codec", "decoder_config", "fourcc_text", "video_codec"]

_VIDEO: dict[str, tuple[str, ...]] = {
    "mpeg4": (
        "XVID", "DIVX", "DX50", "FMP4", "MP4V", "MP4S", "M4S2", "3IV2", "XVIX", "BLZ0", "DXGM",
        "RMP4", "SEDG", "UMP4", "WV1F", "SMP4", "LMP4", "GEOX", "DM4V", "DIGI", "EPHV", "EM4A",
        "M4CC", "SN40", "VSPX", "ULDX", "GEOV", "SIPP", "DREX", "QMP4", "PLV1", "GMP4", "MNM4",
    ),
    "h264": (
        "H264", "X264", "AVC1", "DAVC", "SMV2", "VSSH", "Q264", "V264", "GAVC", "UMSV", "TSHD",
        "INMC",
    ),
    "hevc": ("HEVC", "H265", "X265", "HVC1", "HEV1"),
    "mjpeg": (
        "MJPG", "LJPG", "DMB1", "JPGL", "AVRN", "AVDJ", "ACDV", "QIVG", "SLMJ", "CJPG", "IJPG",
        "MJPA",
    ),
    "msmpeg4v3": ("DIV3", "MP43", "DIV4", "DIV5", "DIV6", "AP41", "COL1", "MPG3"),
    "msmpeg4v2": ("MP42", "DIV2"),
    "mpeg2video": ("MPG2", "MPEG", "MMES", "MPG1"),
}  # fmt: skip
_VIDEO_BY_TAG = {tag: name for name, tags in _VIDEO.items() for tag in tags}

_AUDIO: dict[int, str] = {
    0x0002: "adpcm_ms",
    0x0003: "pcm_f32le",
    0x0011: "adpcm_ima_wav",
    0x0050: "mp2",
    0x0055: "mp3",
    0x00FF: "aac",
    0x0161: "wmav2",
    0x1610: "aac",
    0x2000: "ac3",
    0x2001: "dts",
    0x706D: "aac",
}
_PCM = {8: "pcm_u8", 16: "pcm_s16le", 24: "pcm_s24le", 32: "pcm_s32le"}


def fourcc_text(code: bytes) -> str:
    """A FOURCC as text (Latin-1, trailing NULs and spaces kept)."""
    return code.decode("latin-1")


def video_codec(compression: bytes) -> str | None:
    """FFmpeg's decoder for a ``biCompression`` FOURCC, or None when unknown."""
    return _VIDEO_BY_TAG.get(fourcc_text(compression).upper())


def audio_codec(fmt: AudioFormat) -> str | None:
    """FFmpeg's decoder for a ``wFormatTag`` (PCM by its bit depth), or None when unknown."""
    if fmt.format_tag == 0x0001:
        return _PCM.get(fmt.bits_per_sample)
    return _AUDIO.get(fmt.format_tag)


def decoder_config(track_id: int, fmt: VideoFormat, extradata: bytes) -> DecoderConfig:
    """What decoding one keyframe of a video stream needs: codec, extradata, picture size."""
    return DecoderConfig(
        track_id=track_id,
        codec_name=video_codec(fmt.compression),
        extradata=extradata or None,
        width=fmt.width or None,
        height=fmt.height or None,
    )
