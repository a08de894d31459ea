"""Hostile and broken files: scrambled tables, truncation, claims that would cost memory.

Each test feeds the hostile value itself and checks the one error that must
come out, with its message; none of them accepts "any error".
"""

from __future__ import annotations

import random
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest

from torframes.containers.base import ContainerIndex, IndexLimits
from torframes.containers.local import index_file
from torframes.containers.mp4 import Mp4IndexParser, moov
from torframes.containers.mp4.boxes import Reader
from torframes.containers.mp4.random_access import read_sidx
from torframes.containers.sniff import AutoIndexParser
from torframes.errors import (
    ContainerError,
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
)
from torframes.settings import Settings
from torframes.testing import mp4synth as synth
from torframes.testing import sample_path

MiB = 1024 * 1024


def _drive(data: bytes, limits: IndexLimits | None = None, file_size: int | None = None):
    """Index ``data`` answering each need exactly; bytes past ``data`` read as zeros.

    ``file_size`` larger than ``data`` makes a file whose media are never read.
    """
    size = len(data) if file_size is None else file_size
    parser = Mp4IndexParser(size, limits)
    for _ in range(64):
        step = parser.step()
        if isinstance(step, ContainerIndex):
            return step
        for wanted in step.ranges:
            chunk = data[wanted.start : wanted.stop]
            parser.feed(wanted.start, chunk + bytes(wanted.length - len(chunk)))
    raise AssertionError("the parser keeps asking")


def _box_at(data: bytes, kind: bytes) -> tuple[int, int]:
    at = data.find(kind) - 4
    return at, at + struct.unpack_from(">I", data, at)[0]


def _ftyp() -> bytes:
    return synth.box(b"ftyp", b"isom\0\0\0\0")


# -- a scrambled moov ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> bytes:
    """The one-minute sample (H.264 with B-frames and AAC, a 39 KB ``moov`` at the tail)."""
    return sample_path(tmp_path_factory.mktemp("sample")).read_bytes()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("where", [0.02, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9])
@pytest.mark.parametrize("kib", [1, 4])
def test_scrambled_moov_is_rejected(sample, where, kib, seed):
    """Noise over a few KiB of ``moov``'s payload never yields an index."""
    start, stop = _box_at(sample, b"moov")
    at = start + 8 + int((stop - start - 8) * where)
    noise = random.Random(seed).randbytes(min(kib * 1024, stop - at))
    scrambled = sample[:at] + noise + sample[at + len(noise) :]
    with pytest.raises(ContainerError) as caught:
        _drive(scrambled)
    assert isinstance(caught.value, (MalformedContainer, IndexTooLarge))
    assert caught.value.__cause__ is None  # raised on purpose, not converted from a bug
    assert str(caught.value).count("at byte") <= 1


def test_scrambled_ctts_is_named(sample):
    """Noise over ``ctts`` only: every box well formed, times of days (the issue's case)."""
    start, stop = _box_at(sample, b"ctts")
    noise = random.Random(7).randbytes(stop - start - 24)
    scrambled = sample[: start + 24] + noise + sample[stop:]
    with pytest.raises(MalformedContainer, match=r"^track 1: sample \d+ at -?\d+\.\d+ s lies far"):
        _drive(scrambled)


def test_plausible_edit_lists_and_fragments_pass(video):
    """The plausibility bounds leave FFmpeg's own small negative times alone."""
    for name in ("empty_edit", "negative_cts", "av_audio", "frag_av", "no_editlist"):
        index = _drive(Path(video(name)).read_bytes())
        assert len(index.samples)


# -- truncated files ---------------------------------------------------------------------


def test_truncated_inside_mdat_says_so_once(sample, tmp_path):
    path = tmp_path / "cut.mp4"
    path.write_bytes(sample[:3_000_000])
    mdat, _ = _box_at(sample, b"mdat")
    mdat_size = struct.unpack_from(">I", sample, mdat)[0]
    with pytest.raises(TruncatedContainer) as caught:
        index_file(path)
    assert str(caught.value) == (
        "the file is truncated and no whole 'moov' lies before its end: "
        f"'mdat' of {mdat_size} bytes runs past it ({3_000_000 - mdat} bytes left) at byte {mdat}"
    )
    assert caught.value.offset == mdat


def test_truncated_with_moov_at_the_head(video):
    """The samples past the end are reported as truncation when the cut box was seen."""
    data = Path(video("h264_head")).read_bytes()
    mdat, _ = _box_at(data, b"mdat")
    cut = data[:30_000]
    parser = Mp4IndexParser(len(cut))
    parser.feed(0, cut)  # a driver feeding whole pieces: the mdat header is held
    with pytest.raises(TruncatedContainer) as caught:
        parser.step()
    message = str(caught.value)
    assert message.startswith(f"the file is truncated ('mdat' at byte {mdat} declares ")
    assert "runs past the end of the 30000-byte file" in message


def test_error_offset_is_shown_once():
    error = MalformedContainer("box size 3 < 8", offset=40).where(infohash="ab" * 20, file=0)
    assert str(error) == f"box size 3 < 8 at byte 40 (infohash {'ab' * 20}, file 0)"
    assert error.message == "box size 3 < 8"


# -- no catch-all --------------------------------------------------------------------------


def test_a_reader_bug_is_not_hidden(video, monkeypatch):
    """A reader that forgot a check surfaces as itself, not as a container error."""

    def broken(r):
        raise IndexError("a reader forgot a bounds check")

    monkeypatch.setattr(moov, "read_mvhd", broken)
    with pytest.raises(IndexError, match="forgot a bounds check"):
        _drive(Path(video("h264_head")).read_bytes())


def test_sidx_offsets_beyond_any_file():
    """A 64-bit ``sidx`` first_offset near 2^63 once overflowed int64 sums."""
    body = struct.pack(">BBBBIIQQHH", 1, 0, 0, 0, 1, 12288, 0, 2**63 - 1, 0, 0)
    with pytest.raises(MalformedContainer, match="beyond 2\\^62"):
        read_sidx(Reader(body, 0, len(body), base=0, what="sidx"))


# -- bounds on what a claim may cost -------------------------------------------------------


def _one_sample_moov(size: int, offset: int) -> bytes:
    tables = [
        synth.stts([(1, 512)]),
        synth.stsz([size]),
        synth.stsc([(1, 1, 1)]),
        synth.stco([offset]),
    ]
    return synth.box(b"moov", synth.mvhd(), synth.trak(1, tables=tables))


@pytest.mark.parametrize("claim", [300 * MiB, 257 * MiB])
def test_a_sample_over_max_sample_bytes(claim):
    """A sample claiming more than 256 MiB (the default) is refused, in a file that holds it."""
    head_size = len(_ftyp()) + len(_one_sample_moov(0, 0)) + 16
    data = _ftyp() + _one_sample_moov(claim, head_size)
    data += struct.pack(">I4sQ", 1, b"mdat", claim + 16)
    with pytest.raises(IndexTooLarge) as caught:
        _drive(data, file_size=head_size + claim)
    assert str(caught.value) == (
        f"track 1: sample 0 claims {claim} bytes, over the {256 * MiB}-byte "
        f"max_sample_bytes limit at byte {head_size}"
    )
    index = _drive(data, IndexLimits(max_sample_bytes=claim), file_size=head_size + claim)
    assert index.samples["size"].tolist() == [claim]


def test_a_fragment_sample_over_max_sample_bytes(fragmented_file):
    fragments = [[{"track_id": 1, "tfdt": 0, "sizes": [3 * MiB], "durations": [512]}]]
    data = fragmented_file([{"handler": b"vide"}], fragments)
    with pytest.raises(IndexTooLarge, match=r"track 1: sample 0 claims 3145728 bytes, over"):
        _drive(data, IndexLimits(max_sample_bytes=2 * MiB))
    assert len(_drive(data).samples) == 1


def test_a_moov_larger_than_the_buffer_is_refused_before_it_is_asked_for():
    claim = 2 * MiB
    data = _ftyp() + synth.box(b"mdat", bytes(100)) + struct.pack(">I4s", claim, b"moov")
    parser = Mp4IndexParser(len(data) - 8 + claim, IndexLimits(max_buffer_bytes=MiB))
    parser.feed(0, data)
    with pytest.raises(IndexTooLarge, match=f"'moov' is {claim} bytes, more than the {MiB}-byte "):
        parser.step()


def test_a_parser_holds_no_more_than_its_buffer(video):
    """A driver feeding far more than asked (every piece it has, each time) while it searches."""
    data = bytearray(Path(video("large_tail")).read_bytes())
    mdat, _ = _box_at(bytes(data), b"mdat")
    data[mdat : mdat + 4] = struct.pack(">I", 2**32 - 1)  # mdat runs past the end: search
    noise = random.Random(0).randbytes(6 * MiB)
    data = bytes(data[: mdat + 8]) + noise + bytes(data[mdat + 8 :])
    limits = IndexLimits(max_index_bytes=MiB, tail_window=MiB, max_buffer_bytes=2 * MiB)
    parser = AutoIndexParser(len(data), limits)
    tracemalloc.start()
    try:
        for _ in range(64):
            step = parser.step()
            if isinstance(step, ContainerIndex):
                break
            for piece in range(0, len(data), 256 * 1024):
                parser.feed(piece, memoryview(data)[piece : piece + 256 * 1024])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(step, ContainerIndex)
    assert peak < 2 * MiB + 256 * 1024, f"{peak} bytes at peak"


def test_settings_reach_the_parsers():
    limits = Settings(max_sample_bytes=5 * MiB, max_buffer_bytes=7 * MiB).index_limits()
    assert (limits.max_sample_bytes, limits.max_buffer_bytes) == (5 * MiB, 7 * MiB)
    assert IndexLimits().max_sample_bytes == 256 * MiB


def test_compressed_moovs_nested_deeper_than_recursion_allows():
    """Each ``cmov`` holding another: once a RecursionError, now one clear error."""
    inner = synth.box(b"moov", synth.mvhd())
    for _ in range(2000):
        payload = zlib.compress(inner, 9)
        cmov = synth.box(
            b"cmov",
            synth.box(b"dcom", b"zlib"),
            synth.box(b"cmvd", struct.pack(">I", len(inner)), payload),
        )
        inner = synth.box(b"moov", cmov)
    with pytest.raises(MalformedContainer, match="compressed 'moov' inside a compressed 'moov'"):
        moov.parse_moov(inner, base=0, file_size=len(inner), limits=IndexLimits())


def test_truncated_faststart_file_read_exactly(video, tmp_path):
    """Read from disk asking exactly: the header after ``moov`` is fetched to tell truncation."""
    data = Path(video("h264_head")).read_bytes()
    mdat, _ = _box_at(data, b"mdat")
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[:30_000])
    with pytest.raises(TruncatedContainer) as caught:
        index_file(path)
    mdat_size = struct.unpack_from(">I", data, mdat)[0]
    assert str(caught.value).startswith(
        f"the file is truncated ('mdat' at byte {mdat} declares {mdat_size} bytes, "
        f"{30_000 - mdat} remain): track 1: sample "
    )
