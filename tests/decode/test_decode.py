"""Decoding single keyframe samples with PyAV, checked by the index each frame shows."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from torframes.containers.base import DecoderConfig
from torframes.decode import decode_sample, resize_image, screenshot_name
from torframes.errors import DecodeError, UnsupportedCodec
from torframes.testing.videos import make_video, read_frame_index


@pytest.mark.parametrize(
    ("codec", "container"),
    [("h264", "mp4"), ("hevc", "mp4"), ("av1", "mp4"), ("vp9", "mp4"), ("vp8", "webm")],
)
def test_each_keyframe_decodes_alone_to_its_own_frame(
    tmp_path: Path, codec: str, container: str
) -> None:
    path = make_video(tmp_path / f"v.{container}", codec=codec, container=container, gop=8)
    seen = []
    with av.open(str(path)) as media:
        stream = media.streams.video[0]
        config = DecoderConfig(
            1, stream.codec_context.name.replace("libdav1d", "av1"), stream.codec_context.extradata
        )
        for packet in media.demux(stream):
            if packet.size and packet.is_keyframe:
                seen.append(read_frame_index(decode_sample(config, bytes(packet))))
    assert seen == [0, 8, 16, 24, 32, 40]


def test_size_options(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", width=320, height=240)
    with av.open(str(path)) as media:
        stream = media.streams.video[0]
        packet = next(p for p in media.demux(stream) if p.size)
        config = DecoderConfig(1, "h264", stream.codec_context.extradata)
    assert decode_sample(config, bytes(packet)).size == (320, 240)
    assert decode_sample(config, bytes(packet), width=160).size == (160, 120)
    assert decode_sample(config, bytes(packet), height=60).size == (80, 60)
    assert decode_sample(config, bytes(packet), max_side=100).size == (100, 75)
    assert decode_sample(config, bytes(packet), width=50, height=50).size == (50, 50)
    image = decode_sample(config, bytes(packet))
    assert resize_image(image, max_side=1000) is image


def test_unknown_codec_and_garbage_raise_project_errors() -> None:
    with pytest.raises(UnsupportedCodec):
        decode_sample(DecoderConfig(1, None, None), b"\x00" * 10)
    with pytest.raises(UnsupportedCodec):
        decode_sample(DecoderConfig(1, "no-such-codec", None), b"\x00" * 10)
    with pytest.raises(UnsupportedCodec, match="not a video codec"):
        decode_sample(DecoderConfig(1, "aac", None), b"\x00" * 10)
    with pytest.raises(DecodeError):
        decode_sample(DecoderConfig(1, "h264", None), b"\x00\x00\x00\x01" + b"\xff" * 64)


def test_screenshot_names_are_made_only_of_safe_parts() -> None:
    infohash = "ab" * 20
    assert screenshot_name(infohash, 3, 12.3456, "png") == f"{infohash}-f3-t000012.346.png"
    assert screenshot_name(infohash.upper(), 0, 0, "jpg").endswith("-f0-t000000.000.jpg")
    for bad in ("../../etc/passwd", "ab" * 19, "zz" * 20):
        with pytest.raises(ValueError, match="not an infohash"):
            screenshot_name(bad, 0, 1.0)
    with pytest.raises(ValueError, match="format"):
        screenshot_name(infohash, 0, 1.0, "exe")
    with pytest.raises(ValueError, match="negative"):
        screenshot_name(infohash, -1, 1.0)
