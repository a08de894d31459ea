"""MPEG transport stream fixtures made at test time with FFmpeg's ``mpegts`` muxer (PyAV).

:func:`make_ts` encodes fixture frames (each shows its own index, see
:mod:`torframes.testing.videos`) in H.264, HEVC or MPEG-2 video, with or
without B-frames, with an AAC track alongside if asked, into 188-byte
packets or, with ``m2ts=True``, 192-byte M2TS packets
(``mpegts_m2ts_mode``). ``start`` shifts every timestamp (seconds), so a
file can cross the 33-bit PTS wrap. :func:`clear_random_access` rewrites a
file's adaptation fields without their random_access_indicator, as some
muxers write them: keyframes must then be found in the payload.
:func:`make_ts_gstreamer` writes the same frames with another muxer,
GStreamer's ``mpegtsmux`` (Debian ``gstreamer1.0-plugins-bad``, encoders
from ``-ugly``/``-bad``; ``.ci/run`` installs them).
"""

from __future__ import annotations

import fractions
import shutil
import subprocess
from pathlib import Path

import av

from torframes.testing.videos import (
    VideoSpec,
    _add_audio,
    _audio_frames,
    _encoder_options,
    frame_pixels,
)

__all__ = ["clear_random_access", "make_ts", "make_ts_gstreamer"]

#: Codec -> (encoder, pixel format).
ENCODERS = {"h264": "libx264", "hevc": "libx265", "mpeg2video": "mpeg2video", "mpeg4": "mpeg4"}


def make_ts(
    path: Path,
    codec: str = "h264",
    *,
    frames: int = 48,
    fps: int = 24,
    gop: int = 12,
    bframes: int = 0,
    width: int = 320,
    height: int = 240,
    m2ts: bool = False,
    audio: bool = False,
    noise: bool = False,
    start: float = 0.0,
) -> Path:
    """Encode ``frames`` fixture frames to a transport stream at ``path``; return the path."""
    options = {"mpegts_m2ts_mode": "1"} if m2ts else {}
    shift = round(start * fps)
    with av.open(str(path), "w", format="mpegts", options=options) as out:
        if codec in ("mpeg2video", "mpeg4"):
            encoder_options = {"qscale": "3", "sc_threshold": "1000000000"}
        else:
            spec = VideoSpec(codec=codec, gop=gop, bframes=bframes, width=width, height=height)
            encoder_options = _encoder_options(spec)
        video = out.add_stream(ENCODERS[codec], rate=fps, options=encoder_options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = fractions.Fraction(1, fps)
        video.codec_context.gop_size = gop
        video.codec_context.thread_count = 1
        if codec == "mpeg2video":
            video.codec_context.max_b_frames = bframes
        sound = _add_audio(out, "aac") if audio else None
        if sound is not None:
            sound.metadata["language"] = "fin"
        spec = VideoSpec(frames=frames, fps=fps)
        tones = _audio_frames(sound, spec) if sound is not None else iter(())
        tone = next(tones, None)
        for index in range(frames):
            pixels = frame_pixels(index, width, height, noise=noise)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = shift + index, fractions.Fraction(1, fps)
            while sound is not None and tone is not None:
                if tone.pts / sound.codec_context.sample_rate > (index + 1) / fps:
                    break
                tone.pts += round(start * sound.codec_context.sample_rate)
                out.mux(sound.encode(tone))
                tone = next(tones, None)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    return path


def clear_random_access(source: Path, target: Path) -> Path:
    """Copy ``source`` with every packet's random_access_indicator cleared (13818-1 §2.4.3.4)."""
    data = bytearray(source.read_bytes())
    size, prefix = (192, 4) if data[4:5] == b"\x47" and data[:1] != b"\x47" else (188, 0)
    for at in range(prefix, len(data) - 187, size):
        control = (data[at + 3] >> 4) & 3
        if control & 2 and data[at + 4] > 0:
            data[at + 5] &= ~0x40 & 0xFF
    target.write_bytes(bytes(data))
    return target


#: Codec -> the GStreamer encoder and parser elements for :func:`make_ts_gstreamer`.
GSTREAMER_ENCODERS = {
    "h264": "x264enc key-int-max={gop} bframes={bframes} speed-preset=veryfast threads=1 "
    "option-string=scenecut=0:min-keyint={gop} ! h264parse",
    "hevc": "x265enc key-int-max={gop} speed-preset=ultrafast "
    "option-string=bframes={bframes}:scenecut=0:min-keyint={gop}:open-gop=0:pools=none "
    "! h265parse",
}


def make_ts_gstreamer(
    path: Path,
    codec: str = "h264",
    *,
    frames: int = 48,
    fps: int = 24,
    gop: int = 12,
    bframes: int = 0,
    width: int = 320,
    height: int = 240,
    m2ts: bool = False,
    noise: bool = False,
) -> Path:
    """Encode fixture frames with GStreamer and mux them with its ``mpegtsmux``: not FFmpeg's."""
    launcher = shutil.which("gst-launch-1.0")
    if launcher is None:
        raise RuntimeError("gst-launch-1.0 is not installed (Debian gstreamer1.0-tools)")
    encoder = GSTREAMER_ENCODERS[codec].format(gop=gop, bframes=bframes)
    pipeline = (
        f"fdsrc fd=0 ! rawvideoparse width={width} height={height} format=rgb "
        f"framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 ! {encoder} ! "
        f"mpegtsmux m2ts-mode={'true' if m2ts else 'false'} ! filesink location={path}"
    )
    with subprocess.Popen(
        [launcher, "-q", *pipeline.split(" ")],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        for index in range(frames):
            process.stdin.write(frame_pixels(index, width, height, noise=noise).tobytes())
        process.stdin.close()
        error = process.stderr.read() if process.stderr else b""
        if process.wait() != 0:
            raise RuntimeError(f"gst-launch-1.0 failed: {error.decode(errors='replace')}")
    return path
