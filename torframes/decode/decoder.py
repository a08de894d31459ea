"""Decode a single keyframe sample to a PIL image with PyAV.

A keyframe decodes on its own given the track's decoder configuration (the
``avcC``/``hvcC``/``av1C`` payload, or Matroska CodecPrivate, as FFmpeg
extradata). A fresh codec context is made per sample: it is cheap next to
the decode, and a flushed context cannot take more packets.

Picture size is bounded before any picture is allocated: the size the
container declares (sample entry, Matroska ``PixelWidth``/``PixelHeight``)
is checked before a decoder is made, and the decoder itself is opened with
FFmpeg's ``max_pixels`` option, so a bitstream whose own header (H.264/HEVC
SPS, AV1 sequence header, VP9 frame header) declares a larger picture is
refused by the decoder before it allocates frame buffers.
"""

from __future__ import annotations

from collections.abc import Sequence

import av
from PIL import Image

from torframes.containers.base import DecoderConfig
from torframes.containers.ts.config import TsDecoderConfig
from torframes.errors import ContainerError, DecodeError, UnsupportedCodec

__all__ = ["decode_sample", "decode_until", "resize_image"]

#: Decoders to try, best first, for codecs whose FFmpeg-native decoder is not
#: the one to use (FFmpeg's own ``av1`` decoder needs hardware acceleration).
DECODER_PREFERENCE: dict[str, tuple[str, ...]] = {
    "av1": ("libdav1d", "libaom-av1", "av1"),
    "vp9": ("vp9", "libvpx-vp9"),
    "vp8": ("vp8", "libvpx"),
}

#: Largest picture we agree to decode (pixels), against hostile headers.
MAX_PIXELS = 8192 * 8192


def decode_sample(
    config: DecoderConfig,
    data: bytes,
    *,
    width: int | None = None,
    height: int | None = None,
    max_side: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Decode one keyframe sample to an RGB :class:`PIL.Image.Image`.

    ``width``/``height`` scale the picture (one of them alone keeps the
    aspect ratio); ``max_side`` bounds the longer side. Raises
    :class:`UnsupportedCodec` when no decoder exists for the track and
    :class:`DecodeError` when the sample yields no picture or declares one
    of more than ``max_pixels`` pixels.
    """
    context = _context(config, max_pixels)
    payload = (config.sample_prefix or b"") + _sample_bytes(config, data)
    try:
        frames = list(context.decode(av.Packet(payload)))
        frames += context.decode(None)
    except av.FFmpegError as error:
        raise DecodeError(f"{config.codec_name} decoder rejected the sample: {error}") from error
    if not frames:
        raise DecodeError(
            f"{config.codec_name} decoder gave no picture for a {len(data)}-byte sample"
        )
    frame = frames[0]
    if frame.width * frame.height > max_pixels:  # a decoder ignoring max_pixels
        raise DecodeError(f"picture of {frame.width}x{frame.height} is too large")
    image = frame.to_image()
    return resize_image(image, width=width, height=height, max_side=max_side)


def decode_until(
    config: DecoderConfig,
    packets: Sequence[tuple[bytes, int]],
    pts: int,
    *,
    width: int | None = None,
    height: int | None = None,
    max_side: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Decode ``(data, pts)`` packets in decode order, from a keyframe on; the picture at ``pts``.

    For frames that are not keyframes: every packet from the keyframe that
    starts their group of pictures up to the frame itself, in decode order.
    """
    context = _context(config, max_pixels)
    prefix = config.sample_prefix or b""
    found = None
    try:
        for data, packet_pts in packets:
            packet = av.Packet(prefix + _sample_bytes(config, data))
            packet.pts = packet_pts
            for frame in context.decode(packet):
                if frame.pts == pts:
                    found = frame
        for frame in context.decode(None):
            if frame.pts == pts:
                found = frame
    except av.FFmpegError as error:
        raise DecodeError(f"{config.codec_name} decoder rejected a sample: {error}") from error
    if found is None:
        raise DecodeError(f"{config.codec_name} decoder gave no picture at pts {pts}")
    if found.width * found.height > max_pixels:  # a decoder ignoring max_pixels
        raise DecodeError(f"picture of {found.width}x{found.height} is too large")
    return resize_image(found.to_image(), width=width, height=height, max_side=max_side)


def _sample_bytes(config: DecoderConfig, data: bytes) -> bytes:
    """A sample's bytes as the decoder takes them: out of their transport packets for MPEG-TS."""
    if isinstance(config, TsDecoderConfig):
        try:
            return config.unpack(data)
        except ContainerError as error:
            raise DecodeError(f"no frame in the sample's packets: {error.message}") from error
    return bytes(data)


def _context(config: DecoderConfig, max_pixels: int) -> av.CodecContext:
    """A decoder for ``config``'s track that refuses pictures of more than ``max_pixels``."""
    if not config.codec_name:
        raise UnsupportedCodec(f"track {config.track_id} has a codec torframes does not know")
    if config.width and config.height and config.width * config.height > max_pixels:
        raise DecodeError(
            f"track {config.track_id} declares {config.width}x{config.height} pictures, "
            f"more than {max_pixels:,} pixels: not decoded"
        )
    context = None
    for name in DECODER_PREFERENCE.get(config.codec_name, (config.codec_name,)):
        try:
            context = av.CodecContext.create(name, "r")
            break
        except (av.FFmpegError, ValueError):
            continue
    if context is None:
        raise UnsupportedCodec(f"no {config.codec_name!r} decoder in this PyAV build")
    if context.type != "video":
        raise UnsupportedCodec(f"{config.codec_name} is not a video codec")
    if config.extradata:
        context.extradata = config.extradata
    if config.width and config.height:
        context.width, context.height = config.width, config.height
    context.thread_count = 1
    # FFmpeg checks every picture size the bitstream declares against this
    # before allocating frame buffers (av_image_check_size2).
    context.options = {"max_pixels": str(max_pixels)}
    return context


def resize_image(
    image: Image.Image,
    *,
    width: int | None = None,
    height: int | None = None,
    max_side: int | None = None,
) -> Image.Image:
    """Scale ``image`` to ``width`` x ``height``, to one of them keeping the aspect ratio,
    or to fit within ``max_side``; unchanged when none is given."""
    w, h = image.size
    if width and height:
        size = (width, height)
    elif width:
        size = (width, max(1, round(h * width / w)))
    elif height:
        size = (max(1, round(w * height / h)), height)
    elif max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
    else:
        return image
    if any(side <= 0 for side in size):
        raise ValueError(f"invalid size {size}")
    return image.resize(size, Image.Resampling.LANCZOS)
