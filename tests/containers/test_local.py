"""index_file: the local driver, counting every read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import torframes
from torframes.containers.base import ByteRange, IndexLimits
from torframes.containers.local import index_file
from torframes.containers.mp4 import Mp4IndexParser
from torframes.errors import IndexTooLarge, TruncatedContainer, UnsupportedContainer
from torframes.testing.videos import make_video


@pytest.fixture(scope="module")
def small_mp4(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("local") / "small.mp4", frames=24, audio=True)


def test_index_file_from_a_path_and_a_file_object(small_mp4):
    by_path = index_file(small_mp4)
    by_str = torframes.index_file(str(small_mp4))
    with open(small_mp4, "rb") as handle:
        by_handle = index_file(handle)
    by_bytes = index_file(io.BytesIO(small_mp4.read_bytes()))
    for local in (by_str, by_handle, by_bytes):
        assert local.samples.equals(by_path.samples)
        assert local.reads == by_path.reads
    assert by_path.file_size == small_mp4.stat().st_size
    assert by_path.bytes_read == sum(r.length for r in by_path.reads)
    assert list(by_path.tracks.kind) == ["video", "audio"]


def test_reads_are_exactly_what_the_parser_asked(small_mp4):
    data = small_mp4.read_bytes()
    assert len(data) < 65536
    local = index_file(small_mp4, parser=Mp4IndexParser(len(data)))
    assert local.reads == (ByteRange(0, len(data)),)  # the head read, clipped to the file


def test_limits_are_passed_through(small_mp4):
    with pytest.raises(IndexTooLarge, match="max_index_bytes limit"):
        index_file(small_mp4, limits=IndexLimits(max_index_bytes=100))


def test_truncated_and_foreign_files():
    with pytest.raises(TruncatedContainer):
        index_file(io.BytesIO(b"\0\0\0"))
    with pytest.raises(UnsupportedContainer, match="Ogg"):
        index_file(io.BytesIO(b"OggS" + bytes(100)))


class _ShortReads(io.BytesIO):
    def read(self, n=-1):
        return super().read(max(0, n - 1) if n and n > 0 else n)


def test_a_file_that_reads_short(small_mp4):
    with pytest.raises(TruncatedContainer, match="file ended"):
        index_file(_ShortReads(small_mp4.read_bytes()))
