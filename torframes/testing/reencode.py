"""Re-encode a fixture video with PyAV: the same pictures at another bitrate.

For tests and notebooks about perceptual hashes: a re-encode shows the same
frames (its keyframes at the same times, GOP fixed) with other bytes.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import av

__all__ = ["reencode"]


def reencode(
    source: str | Path,
    target: str | Path,
    *,
    gop: int,
    bit_rate: int | None = None,
    crf: int | None = None,
) -> Path:
    """Decode ``source``'s first video track and encode it to ``target`` as H.264.

    At an average ``bit_rate`` (bits/s), or at constant quality ``crf``
    (x264's scale; give one of them). A keyframe exactly every ``gop`` frames
    (no scene-cut keyframes), the source's size and frame rate, one encoder
    thread. Only the ``crf`` mode gave the same bytes on every run here
    (the average-bitrate rate control did not, under load): use it where the
    bytes must be reproducible (notebook outputs).
    """
    if (bit_rate is None) == (crf is None):
        raise ValueError("give bit_rate or crf")
    target = Path(target)
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        video = src.streams.video[0]
        video.codec_context.thread_count = 1  # one decoder thread as well
        rate = video.average_rate or fractions.Fraction(24)
        options = {"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:threads=1"}
        if crf is not None:
            options["crf"] = str(crf)
        stream = dst.add_stream("libx264", rate=rate, options=options)
        stream.width = video.codec_context.width
        stream.height = video.codec_context.height
        stream.pix_fmt = "yuv420p"
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        stream.time_base = 1 / fractions.Fraction(rate)
        stream.codec_context.thread_count = 1  # one thread: the same bytes every run
        for frame in src.decode(video):
            frame.pict_type = av.video.frame.PictureType.NONE
            dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    return target
