"""Deterministic fixture videos whose frames show their own index.

Every frame carries its index as a band of black and white cells across the
top: sixteen cells for the bits of the index (most significant first), then
sixteen for their complement, so :func:`read_frame_index` can read it back
from decoded pixels and tell a garbled read from a wrong frame. Below the
band, a gradient moves from frame to frame so encoders see real motion.

Videos are encoded with PyAV; nothing is downloaded. The encoder settings
fix the GOP (a keyframe exactly every ``gop`` frames, no scene-cut
keyframes) so tests know where the keyframes are.
"""

from __future__ import annotations

import fractions
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "CODECS",
    "CONTAINERS",
    "FrameIndexUnreadable",
    "VideoSpec",
    "frame_pixels",
    "make_video",
    "read_frame_index",
    "remux",
]

#: Codec name -> (encoder, pixel format).
CODECS: dict[str, tuple[str, str]] = {
    "h264": ("libx264", "yuv420p"),
    "hevc": ("libx265", "yuv420p"),
    "av1": ("libsvtav1", "yuv420p"),
    "vp9": ("libvpx-vp9", "yuv420p"),
    "vp8": ("libvpx", "yuv420p"),
    "mpeg4": ("mpeg4", "yuv420p"),
}

#: Container name -> (FFmpeg muxer, audio encoder).
CONTAINERS: dict[str, tuple[str, str]] = {
    "mp4": ("mp4", "aac"),
    "mov": ("mov", "aac"),
    "mkv": ("matroska", "libopus"),
    "webm": ("webm", "libopus"),
}

_BITS = 16
_BAND_ROWS = 2


class FrameIndexUnreadable(ValueError):
    """The index band of an image could not be read (not a fixture frame, or garbled)."""


@dataclass(frozen=True)
class VideoSpec:
    """What fixture video to make.

    ``bframes`` is the most consecutive B-frames (0 turns them off; codecs
    without B-frames ignore it). ``faststart`` puts an MP4's ``moov`` before
    ``mdat``. ``audio_first`` creates the audio track first, so its samples
    are stored ahead of the video's in each interleave. ``noise`` adds
    per-frame pseudo-random texture, making frames large (for benchmark
    files). ``black`` lists frames drawn all black (no index band: for
    tests of blank-frame handling). ``label`` draws the frame number and time in large type and a
    moving disc (for demo videos people look at). ``muxer_options`` and
    ``encoder_options`` pass straight to FFmpeg.
    """

    codec: str = "h264"
    container: str = "mp4"
    frames: int = 48
    fps: int = 24
    width: int = 320
    height: int = 240
    gop: int = 12
    bframes: int = 0
    faststart: bool = False
    audio: bool = False
    audio_first: bool = False
    noise: bool = False
    label: bool = False
    crf: int | None = None
    black: tuple[int, ...] = ()
    muxer_options: Mapping[str, str] = field(default_factory=dict)
    encoder_options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, not {self.codec!r}")
        if self.container not in CONTAINERS:
            raise ValueError(
                f"container must be one of {sorted(CONTAINERS)}, not {self.container!r}"
            )
        if self.width < 128 or self.height < 64 or self.width % 16 or self.height % 8:
            raise ValueError("width must be a multiple of 16 >= 128, height a multiple of 8 >= 64")
        if not 0 < self.frames < 2**_BITS:
            raise ValueError(f"frames must be in 1..{2**_BITS - 1}")
        if self.gop < 1 or self.bframes < 0:
            raise ValueError("gop must be >= 1 and bframes >= 0")

    @property
    def keyframes(self) -> list[int]:
        """Indexes (in presentation order) of the frames forced to be keyframes.

        An encoder may add one more (MPEG-4 Part 2 with B-frames ends on an
        I-frame); tests take keyframes from the demuxer, this is a guide.
        """
        return list(range(0, self.frames, self.gop))

    def with_(self, **changes: Any) -> VideoSpec:
        """A copy with some fields changed."""
        return replace(self, **changes)


def frame_pixels(
    index: int,
    width: int,
    height: int,
    *,
    noise: bool = False,
    label: bool = False,
    fps: int = 24,
) -> np.ndarray:
    """The RGB pixels (``height x width x 3``, uint8) of fixture frame ``index``."""
    y, x = np.mgrid[0:height, 0:width]
    phase = index * 7
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = (x + phase) % 256
    image[..., 1] = (y * 2 + phase * 3) % 256
    image[..., 2] = ((x + y) // 2 + 128) % 256
    if noise:
        rng = np.random.default_rng(index)
        image ^= rng.integers(0, 64, size=image.shape, dtype=np.uint8)
    cell = width // _BITS
    band = cell * _BAND_ROWS
    image[: band + 4] = 128
    bits = [(index >> (_BITS - 1 - i)) & 1 for i in range(_BITS)]
    for row, values in enumerate((bits, [1 - b for b in bits])):
        for col, bit in enumerate(values):
            image[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = 255 * bit
    if label:
        _draw_label(image, index, fps, top=band + 4)
    return image


def _draw_label(image: np.ndarray, index: int, fps: int, *, top: int) -> None:
    """Draw the frame number, its time and a disc that circles once every 4 s, below the band."""
    height, width = image.shape[:2]
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    seconds = index / fps
    radius = max(4, (height - top) // 10)
    angle = 2 * math.pi * seconds / 4
    cx = width / 2 + (width / 3) * math.cos(angle)
    cy = top + (height - top) / 2 + ((height - top) / 3) * math.sin(angle)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(250, 250, 250))
    font = ImageFont.load_default(size=max(10, (height - top) // 6))
    text = f"frame {index}  {int(seconds // 60):02d}:{seconds % 60:05.2f}"
    draw.text((width // 20, top + (height - top) // 12), text, fill=(255, 255, 255), font=font,
              stroke_width=2, stroke_fill=(0, 0, 0))  # fmt: skip
    image[...] = np.asarray(canvas)


def read_frame_index(image: Image.Image | np.ndarray | av.VideoFrame) -> int:
    """Read back the index a fixture frame shows, from decoded pixels.

    Works on frames scaled to any size whose aspect ratio is kept. Raises
    :class:`FrameIndexUnreadable` when the band does not hold an index and
    its complement.
    """
    if isinstance(image, av.VideoFrame):
        pixels = image.to_ndarray(format="rgb24")
    elif isinstance(image, Image.Image):
        pixels = np.asarray(image.convert("RGB"))
    else:
        pixels = np.asarray(image)
    if pixels.ndim == 3:
        pixels = pixels.mean(axis=2)
    width = pixels.shape[1]
    cell = width / _BITS
    rows = []
    for row in range(_BAND_ROWS):
        cy = int((row + 0.5) * cell)
        values = []
        for col in range(_BITS):
            cx = int((col + 0.5) * cell)
            r = max(1, int(cell / 4))
            patch = pixels[cy - r : cy + r, cx - r : cx + r]
            level = float(patch.mean())
            if 96 < level < 160:
                raise FrameIndexUnreadable(f"cell {row},{col} is grey ({level:.0f}): no index band")
            values.append(int(level >= 128))
        rows.append(values)
    if any(a == b for a, b in zip(rows[0], rows[1], strict=True)):
        raise FrameIndexUnreadable("index bits and their complement disagree")
    return int("".join(map(str, rows[0])), 2)


def make_video(path: str | Path, spec: VideoSpec | None = None, **changes: Any) -> Path:
    """Encode a fixture video to ``path`` and return the path.

    ``spec`` fields may be overridden by keyword, e.g.
    ``make_video(p, codec="hevc", faststart=True)``.
    """
    spec = replace(spec or VideoSpec(), **changes)
    path = Path(path)
    muxer, audio_codec = CONTAINERS[spec.container]
    options = dict(spec.muxer_options)
    if spec.faststart:
        options.setdefault("movflags", "+faststart")
    with av.open(str(path), mode="w", format=muxer, options=options) as container:
        audio = _add_audio(container, audio_codec) if spec.audio and spec.audio_first else None
        video = _add_video(container, spec)
        if spec.audio and audio is None:
            audio = _add_audio(container, audio_codec)
        audio_frames = _audio_frames(audio, spec) if audio is not None else iter(())
        next_audio = next(audio_frames, None)
        for index in range(spec.frames):
            pixels = frame_pixels(
                index, spec.width, spec.height, noise=spec.noise, label=spec.label, fps=spec.fps
            )
            if index in spec.black:
                pixels[...] = 0
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = fractions.Fraction(1, spec.fps)
            while audio is not None and next_audio is not None:
                audio_time = next_audio.pts / audio.codec_context.sample_rate
                if audio_time > (index + 1) / spec.fps:
                    break
                container.mux(audio.encode(next_audio))
                next_audio = next(audio_frames, None)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            while next_audio is not None:
                container.mux(audio.encode(next_audio))
                next_audio = next(audio_frames, None)
            container.mux(audio.encode(None))
    return path


def _add_video(container: av.container.OutputContainer, spec: VideoSpec) -> Any:
    encoder, pix_fmt = CODECS[spec.codec]
    options = _encoder_options(spec)
    options.update(spec.encoder_options)
    stream = container.add_stream(encoder, rate=spec.fps, options=options)
    stream.width = spec.width
    stream.height = spec.height
    stream.pix_fmt = pix_fmt
    stream.time_base = fractions.Fraction(1, spec.fps)
    context = stream.codec_context
    context.gop_size = spec.gop
    context.thread_count = 1
    if spec.codec == "mpeg4":
        context.max_b_frames = spec.bframes
    return stream


def _encoder_options(spec: VideoSpec) -> dict[str, str]:
    g, b = spec.gop, spec.bframes
    if spec.codec == "h264":
        crf = spec.crf if spec.crf is not None else 20
        return {
            "preset": "veryfast",
            "crf": str(crf),
            "x264-params": f"keyint={g}:min-keyint={g}:scenecut=0:bframes={b}:threads=1",
        }
    if spec.codec == "hevc":
        crf = spec.crf if spec.crf is not None else 24
        return {
            "preset": "ultrafast",
            "crf": str(crf),
            "x265-params": (
                f"keyint={g}:min-keyint={g}:scenecut=0:bframes={b}:open-gop=0"
                ":frame-threads=1:pools=none:log-level=error"
            ),
        }
    if spec.codec == "av1":
        crf = spec.crf if spec.crf is not None else 24
        os.environ.setdefault("SVT_LOG", "1")  # errors only
        return {
            "preset": "12",
            "crf": str(crf),
            "svtav1-params": f"keyint={g}:scd=0:lp=1",
        }
    if spec.codec in ("vp9", "vp8"):
        crf = spec.crf if spec.crf is not None else 30
        return {
            "deadline": "realtime",
            "cpu-used": "8",
            "crf": str(crf),
            "b": "0" if spec.codec == "vp9" else "2M",
            "keyint_min": str(g),
            "auto-alt-ref": "0",
            "lag-in-frames": "0",
        }
    return {"qscale": "3", "sc_threshold": "1000000000"}


def _add_audio(container: av.container.OutputContainer, codec: str) -> Any:
    stream = container.add_stream(codec, rate=48000)
    stream.layout = "mono"
    return stream


def _audio_frames(stream: Any, spec: VideoSpec) -> Any:
    """Yield a 440 Hz tone lasting as long as the video, in encoder-sized frames."""
    rate = stream.codec_context.sample_rate
    frame_size = stream.codec_context.frame_size or 1024
    total = math.ceil(spec.frames / spec.fps * rate)
    fmt = stream.codec_context.format.name
    for start in range(0, total, frame_size):
        t = (np.arange(start, start + frame_size) / rate).astype(np.float32)
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        if fmt in ("s16", "s16p"):
            data = (samples * 32767).astype(np.int16).reshape(1, -1)
        else:
            data = samples.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = fractions.Fraction(1, rate)
        yield frame


class _Pipe:
    """A write-only file object: PyAV muxes to it as to a pipe (no seeking back)."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)


def remux(
    source: str | Path,
    target: str | Path,
    *,
    fmt: str | None = None,
    options: Mapping[str, str] | None = None,
    seekable: bool = True,
) -> Path:
    """Copy every packet of ``source`` into ``target`` with another muxer or muxer options.

    ``fmt`` defaults to the target's extension (``mp4``, ``mkv``...).
    ``options`` go to the muxer, e.g. ``{"movflags": "+faststart"}`` or
    ``{"cues_to_front": "1"}``. ``seekable=False`` muxes as to a pipe: a
    Matroska file then has no Cues and a Segment of unknown size.
    """
    target = Path(target)
    muxer = fmt or CONTAINERS.get(target.suffix.lstrip("."), (target.suffix.lstrip("."),))[0]
    sink: Any = str(target) if seekable else _Pipe()
    with (
        av.open(str(source)) as src,
        av.open(sink, "w", format=muxer, options=dict(options or {})) as dst,
    ):
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            dst.mux(packet)
    if not seekable:
        target.write_bytes(sink.buffer.getvalue())
    return target
