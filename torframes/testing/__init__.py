"""Helpers for tests, demos and notebooks: everything stays on 127.0.0.1.

* :class:`LocalSwarm` — a libtorrent seeder on loopback that makes torrents
  from given files (v1, v2 or hybrid) and reports exactly what it uploaded.
* :func:`make_video` / :class:`VideoSpec` — deterministic fixture videos
  (H.264, HEVC, AV1, VP9, VP8, MPEG-4 Part 2 in MP4, MOV, Matroska, WebM)
  whose frames show their own index; :func:`read_frame_index` reads it back
  from decoded pixels.
* :func:`sample_path` — the bundled demo video (``data/sample.mp4``).
* :func:`demux_packets` / :func:`keyframe_packets` — the oracle: what
  FFmpeg's demuxer (through PyAV) reports for a file, packet by packet.
* :mod:`torframes.testing.mp4synth` — a minimal MP4 box writer for
  synthetic files (edge cases no muxer makes; benchmark ``moov`` boxes).
"""

from torframes.testing.oracle import demux_packets, keyframe_packets
from torframes.testing.sample import make_sample, sample_path
from torframes.testing.swarm import LocalSwarm, Seed
from torframes.testing.videos import (
    FrameIndexUnreadable,
    VideoSpec,
    frame_pixels,
    make_video,
    read_frame_index,
)

__all__ = [
    "FrameIndexUnreadable",
    "LocalSwarm",
    "Seed",
    "VideoSpec",
    "demux_packets",
    "frame_pixels",
    "keyframe_packets",
    "make_sample",
    "make_video",
    "read_frame_index",
    "sample_path",
]
