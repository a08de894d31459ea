"""The vectorised sample table: placement, times, sync flags, FFmpeg's quirks."""

from __future__ import annotations

import numpy as np
import pytest

from torframes.containers.mp4.sample_tables import Runs
from torframes.containers.mp4.tables import MAX_STTS_DELTA, expand_ctts, expand_deltas
from torframes.errors import MalformedContainer
from torframes.testing import mp4synth as synth


def test_offsets_sizes_and_chunks(synthetic_file, parse_bytes):
    data = synthetic_file([{"sizes": [10, 20, 30, 40, 50], "per_chunk": 2}])
    samples = parse_bytes(data).samples
    mdat = data.find(b"mdat") + 4
    assert samples.offset.tolist() == [mdat + x for x in (0, 10, 30, 60, 100)]
    assert samples["size"].tolist() == [10, 20, 30, 40, 50]
    assert samples.chunk.tolist() == [0, 0, 1, 1, 2]
    assert samples["sample"].tolist() == [0, 1, 2, 3, 4]


def _one_track(*tables, file_size: int = 10_000, **kw):
    moov = synth.box(b"moov", synth.mvhd(), synth.trak(1, tables=list(tables), **kw))
    head = synth.box(b"ftyp", b"isom\0\0\0\0")
    mdat = synth.box(b"mdat", bytes(file_size))
    return head + mdat + moov


def test_chunks_before_the_first_stsc_entry_take_its_count(parse_bytes):
    data = _one_track(
        synth.stts([(4, 1)]), synth.stsz([1] * 4), synth.stsc([(2, 2, 1)]), synth.stco([100, 200])
    )
    assert parse_bytes(data).samples.offset.tolist() == [100, 101, 200, 201]


def test_chunks_holding_more_samples_than_sizes(parse_bytes):
    data = _one_track(
        synth.stts([(3, 512)]),
        synth.stsz([1] * 3),
        synth.stsc([(1, 2, 1)]),
        synth.stco([100, 200]),
        edits=synth.elst([(10, 1024)]),
    )
    index = parse_bytes(data)
    assert index.samples.offset.tolist() == [100, 101, 200]
    assert any("extra ones dropped" in note for note in index.notes)
    assert index.samples.dts.tolist() == [0, 512, 1024]  # FFmpeg skips the edit list then


def test_chunks_holding_fewer_samples_than_sizes(parse_bytes):
    data = _one_track(
        synth.stts([(5, 512)]), synth.stsz([1] * 5), synth.stsc([(1, 2, 1)]), synth.stco([100, 200])
    )
    index = parse_bytes(data)
    assert len(index.samples) == 4
    assert any("4 of 5 samples" in note for note in index.notes)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ([synth.stts([(3, 1)]), synth.stsz([1, 1])], "stts times 3 samples, stsz sizes 2"),
        (
            [
                synth.stts([(2, 1)]),
                synth.stsz([1, 1]),
                synth.stsc([(1, 1, 1)]),
                synth.stco([100, 2**31]),
            ],
            "chunk 1 at byte 2147483648 lies past the end",
        ),
        (
            [
                synth.stts([(2, 1)]),
                synth.stsz([1, 20_000]),
                synth.stsc([(1, 1, 1)]),
                synth.stco([100, 200]),
            ],
            "runs past the end",
        ),
        (
            [
                synth.stts([(2, 1)]),
                synth.stsz([1, 1]),
                synth.stsc([(3, 1, 1)]),
                synth.stco([100, 200]),
            ],
            "stsc starts a run at chunk 3",
        ),
        ([synth.stts([(2, 1)]), synth.stsz([1, 1])], "no stsc or chunk offsets"),
        (
            [
                synth.stts([(1, 1)]),
                synth.stsz(constant=2**30 + 1, count=1),
                synth.stsc([(1, 1, 1)]),
                synth.stco([0]),
            ],
            "over 1 GiB",
        ),
    ],
)
def test_inconsistent_tables(tables, message, parse_bytes):
    with pytest.raises(MalformedContainer, match=message):
        parse_bytes(_one_track(*tables))


def test_empty_track(parse_bytes):
    index = parse_bytes(_one_track(synth.stts([]), synth.stsz([]), synth.stsc([]), synth.stco([])))
    assert len(index.samples) == 0
    assert index.tracks.samples.tolist() == [0]


def test_stts_huge_deltas_are_corrections():
    runs = Runs(np.array([2, 1, 2]), np.array([512, 2**32 - 512, 512]))
    deltas = expand_deltas(runs, 5)
    assert MAX_STTS_DELTA < 2**32 - 512
    assert deltas.tolist()[:2] == [512, 512]
    assert deltas[2] == 1
    assert deltas.sum() < 512 * 4


def test_ctts_rules():
    offsets, has, shift = expand_ctts(
        Runs(np.array([1, 0, 2, 1]), np.array([-1024, -4096, 0, -8])), 5
    )
    assert offsets.tolist() == [-1024, 0, 0, -8, 0]
    assert has
    assert shift == 1024
    offsets, has, shift = expand_ctts(Runs(np.array([0, 2**31]), np.array([5, 5])), 3)
    assert not has
    assert shift == 0
    assert not offsets.any()
    assert expand_ctts(None, 2)[1] is False


def test_sync_flags(parse_bytes):
    def keys(*extra, handler=b"vide", n=6):
        tables = [
            synth.stts([(n, 2)]),
            synth.stsz([1] * n),
            synth.stsc([(1, n, 1)]),
            synth.stco([100]),
            *extra,
        ]
        return parse_bytes(_one_track(*tables, handler=handler)).samples.is_keyframe.tolist()

    assert keys() == [True] * 6
    assert keys(synth.stss([1, 4])) == [True, False, False, True, False, False]
    assert keys(synth.stss([0, 3])) == [True, False, False, True, False, False]  # zero-based
    assert keys(synth.stss([1, 5, 3, 6])) == [True, False, False, False, True, False]  # stops at 3
    assert keys(synth.stss([])) == [True, False, False, False, False, False]
    assert keys(synth.stss([]), handler=b"soun") == [True] * 6
    stps = synth.full_box(b"stps", 0, 0, b"\0\0\0\2\0\0\0\2\0\0\0\5")
    assert keys(synth.stss([1]), stps) == [True, True, False, False, True, False]
    rap = synth.full_box(
        b"sbgp", 0, 0, b"rap ", b"\0\0\0\2", b"\0\0\0\3\0\0\0\0", b"\0\0\0\1\0\0\0\1"
    )
    assert keys(synth.stss([1]), rap) == [True, False, False, True, False, False]
