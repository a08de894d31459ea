"""The memory rule every container's reads share (``containers/reading.py``)."""

from __future__ import annotations

import pytest

from torframes.containers.base import ByteRange, ContainerIndex, empty_samples, empty_tracks
from torframes.containers.reading import Reads, Runner, Task, TaskParser
from torframes.errors import IndexTooLarge, MalformedContainer

DATA = bytes(range(100))


def _held(reads: Reads) -> list[tuple[int, int]]:
    return [(start, start + len(chunk)) for start, chunk in reads.store.spans()]


def _asking(reads: Reads, start: int, stop: int) -> Task[bytes]:
    data = yield from reads.bytes(start, stop, "test")
    return bytes(data)


def test_without_keep_past_the_budget_only_the_asked_parts_are_kept():
    reads = Reads(len(DATA), soft_budget=10)
    reads.feed(0, DATA[:8])
    reads.asked = (ByteRange(20, 24),)
    reads.feed(16, DATA[16:32])
    assert _held(reads) == [(0, 8), (20, 24)]


def test_with_keep_what_no_longer_helps_is_forgotten_first():
    reads = Reads(len(DATA), soft_budget=10)
    reads.keep = lambda spans: [ByteRange(0, 2), ByteRange(20, 22)]
    reads.feed(0, DATA[:8])
    reads.asked = (ByteRange(20, 24),)
    reads.feed(20, DATA[20:26])  # 8 + 6 > 10: [2, 8) goes, then all six fit
    assert _held(reads) == [(0, 2), (20, 26)]
    reads.asked = (ByteRange(40, 44),)
    reads.feed(40, DATA[40:50])  # 8 + 10 > 10 even after forgetting: the asked and kept parts
    assert _held(reads) == [(0, 2), (20, 22), (40, 44)]
    assert bytes(reads.get(40, 44)) == DATA[40:44]


def test_a_drivers_bad_offset_is_not_the_files_error():
    reads = Reads(len(DATA), soft_budget=4)
    reads.keep = lambda spans: []
    with pytest.raises(ValueError, match="offset must not be negative"):
        reads.feed(-1, DATA[:8])
    assert reads.error is None


def test_over_the_hard_cap_the_next_step_fails():
    reads = Reads(len(DATA), soft_budget=10, max_bytes=10)
    reads.keep = lambda spans: []
    runner = Runner(_asking(reads, 0, 20), reads, "a test file")
    assert runner.step().ranges == (ByteRange(0, 20),)
    reads.feed(0, DATA[:20])  # asked, but more than the parser may hold
    for _ in range(2):
        with pytest.raises(IndexTooLarge, match="more than 10 bytes"):
            runner.step()


@pytest.mark.parametrize("internal_errors", [True, False])
def test_a_bug_met_while_feeding_comes_out_of_the_next_step(internal_errors):
    def keep(spans):
        raise IndexError("a reader forgot a bounds check")

    reads = Reads(len(DATA), soft_budget=4)
    reads.keep = keep
    runner = Runner(_asking(reads, 0, 8), reads, "a test file", internal_errors=internal_errors)
    runner.step()
    reads.feed(0, DATA[:8])
    expected = MalformedContainer if internal_errors else IndexError
    with pytest.raises(expected, match="forgot a bounds check") as caught:
        runner.step()
    if internal_errors:
        assert str(caught.value).startswith("internal error reading a test file")
        assert isinstance(caught.value.__cause__, IndexError)


class _Header(TaskParser):
    """A toy container: 4 bytes at the head give the index's place; reads both."""

    container = "toy"

    def _run(self) -> Task[ContainerIndex]:
        head = yield from self._reads.bytes(0, 4, "head")
        where = int.from_bytes(head, "big")
        yield from self._reads.require([ByteRange(where, where + 2)], "index")
        notes = (bytes(self._reads.get(where, where + 2)).decode(),)
        return ContainerIndex("toy", empty_tracks(), empty_samples(), {}, notes=notes)


def test_a_task_parser_answers_the_feed_step_contract():
    data = (60).to_bytes(4, "big") + bytes(56) + b"ok" + bytes(38)
    parser = _Header(len(data))
    assert parser._reads.soft_budget == 2 * parser.limits.max_index_bytes + 16 * 1024 * 1024
    asked = []
    while not isinstance(step := parser.step(), ContainerIndex):
        asked.append(step.ranges)
        for r in step.ranges:
            parser.feed(r.start, data[r.start : r.stop])
    assert asked == [(ByteRange(0, 4),), (ByteRange(60, 62),)]
    assert (step.notes, parser.needs) == (("ok",), 2)
    assert parser.step() is step
