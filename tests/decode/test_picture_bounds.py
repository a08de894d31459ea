"""Picture size is bounded before decoding allocates a picture.

The bitstream's own header (SPS, sequence header, frame header) is what a
decoder allocates by; the container's declared size may lie or be missing.
Both are checked: the declared size before a decoder is made, the
bitstream's by FFmpeg's ``max_pixels`` before the decoder allocates frames
(the refusal comes from the decoder, not from a check on a decoded frame).
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from torframes.containers.base import DecoderConfig
from torframes.decode.decoder import decode_sample, decode_until
from torframes.errors import DecodeError
from torframes.testing.videos import make_video, read_frame_index

WIDTH, HEIGHT = 320, 240
PIXELS = WIDTH * HEIGHT


def first_packets(path: Path, count: int) -> tuple[DecoderConfig, list[tuple[bytes, int]]]:
    """The decoder config (no declared size) and the first ``count`` packets, decode order."""
    with av.open(str(path)) as media:
        stream = media.streams.video[0]
        name = stream.codec_context.name.replace("libdav1d", "av1")
        config = DecoderConfig(1, name, stream.codec_context.extradata)
        packets = [(bytes(p), int(p.pts)) for p in media.demux(stream) if p.size][:count]
    return config, packets


@pytest.mark.parametrize("codec", ["h264", "hevc", "av1", "vp9"])
def test_the_decoder_refuses_a_bitstream_picture_over_the_bound(tmp_path: Path, codec: str) -> None:
    path = make_video(tmp_path / "v.mp4", codec=codec, width=WIDTH, height=HEIGHT, gop=8)
    config, packets = first_packets(path, 1)
    data, _ = packets[0]
    assert read_frame_index(decode_sample(config, data, max_pixels=PIXELS)) == 0
    with pytest.raises(DecodeError) as refused:
        decode_sample(config, data, max_pixels=PIXELS - 1)
    # refused by FFmpeg while reading the header, not after a picture was made
    assert isinstance(refused.value.__cause__, av.FFmpegError)


def test_a_gop_decode_is_refused_by_the_decoder_too(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", width=WIDTH, height=HEIGHT, gop=8)
    config, packets = first_packets(path, 4)
    assert read_frame_index(decode_until(config, packets, packets[-1][1])) == 3
    with pytest.raises(DecodeError) as refused:
        decode_until(config, packets, packets[-1][1], max_pixels=PIXELS - 1)
    assert isinstance(refused.value.__cause__, av.FFmpegError)


def test_a_declared_size_over_the_bound_is_refused_before_decoding(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", width=WIDTH, height=HEIGHT)
    config, packets = first_packets(path, 1)
    huge = DecoderConfig(1, "h264", config.extradata, width=70_000, height=70_000)
    with pytest.raises(DecodeError, match="declares 70000x70000 pictures"):
        decode_sample(huge, packets[0][0])
    with pytest.raises(DecodeError, match="declares 70000x70000 pictures"):
        decode_until(huge, packets, packets[0][1])
