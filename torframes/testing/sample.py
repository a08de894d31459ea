"""The bundled sample video (``data/sample.mp4``) and how it is made.

A one-minute 640x360 H.264 + AAC test card: each frame shows its number and
time in large type, a moving disc, and the index band that
:func:`~torframes.testing.videos.read_frame_index` reads. ``moov`` sits at
the tail, as FFmpeg writes it without ``+faststart``: the harder case for a
probe. Made by torframes itself, so it is ours to license (CC0).
"""

from __future__ import annotations

from pathlib import Path

from torframes.testing.videos import VideoSpec, make_video

__all__ = ["SAMPLE_PATH", "SAMPLE_SPEC", "make_sample", "sample_path"]

SAMPLE_SPEC = VideoSpec(
    codec="h264",
    container="mp4",
    frames=1440,
    fps=24,
    width=640,
    height=360,
    gop=48,
    bframes=2,
    audio=True,
    label=True,
    crf=30,
)

#: Where the sample lives in a source checkout.
SAMPLE_PATH = Path(__file__).resolve().parents[2] / "data" / "sample.mp4"


def make_sample(path: str | Path) -> Path:
    """Encode the sample video to ``path`` (about 3 MB, ~10 s)."""
    return make_video(path, SAMPLE_SPEC)


def sample_path(cache_dir: str | Path | None = None) -> Path:
    """The bundled sample; made into ``cache_dir`` first when the checkout lacks it."""
    if SAMPLE_PATH.exists():
        return SAMPLE_PATH
    target = Path(cache_dir or Path.home() / ".cache" / "torframes") / "sample.mp4"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        make_sample(target.with_suffix(".partial.mp4")).rename(target)
    return target
