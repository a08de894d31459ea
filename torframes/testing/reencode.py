"""Re-encode a fixture video with PyAV: the same pictures at another bitrate.

For tests and notebooks about perceptual hashes: a re-encode shows the same
frames (its keyframes at the same times, GOP fixed) with other bytes.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import av

__all__ = ["reencode"]


def reencode(source: str | Path, target: str | Path, *, bit_rate: int, gop: int) -> Path:
    """Decode ``source``'s first video track and encode it to ``target`` as H.264 at ``bit_rate``.

    A keyframe exactly every ``gop`` frames (no scene-cut keyframes), the
    source's size and frame rate; x264 output is deterministic.
    """
    target = Path(target)
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        video = src.streams.video[0]
        rate = video.average_rate or fractions.Fraction(24)
        options = {"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:threads=1"}
        stream = dst.add_stream("libx264", rate=rate, options=options)
        stream.width = video.codec_context.width
        stream.height = video.codec_context.height
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bit_rate
        stream.time_base = 1 / fractions.Fraction(rate)
        for frame in src.decode(video):
            frame.pict_type = av.video.frame.PictureType.NONE
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    return target
