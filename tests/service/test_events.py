"""Event subscriptions hold a bounded number of unread events; dropped ones are counted."""

from __future__ import annotations

import gc

import pytest

from torframes.service.events import EventHub, JobEvent, Subscription


def event(number: int) -> JobEvent:
    return JobEvent("frame", job=1, source="magnet:?", frame=number, frames=10_000)


async def test_a_reader_that_never_reads_holds_at_most_maxsize_events() -> None:
    hub = EventHub()
    idle = hub.subscribe(maxsize=50)
    for number in range(1, 10_001):
        hub.emit(event(number))
    assert idle._queue.qsize() == 50
    assert idle.dropped == 10_000 - 50
    hub.close()  # the end of the stream is never the one dropped
    assert idle.dropped == 10_000 - 50 + 1
    hub.emit(event(10_001))  # nothing after the end
    got = [e.frame async for e in idle]
    assert got == list(range(10_000 - 48, 10_001))  # the newest, in order


async def test_a_reader_that_keeps_up_loses_nothing() -> None:
    hub = EventHub()
    reader = hub.subscribe(maxsize=2)
    got = []
    for number in range(1, 101):
        hub.emit(event(number))
        got.append((await reader.__anext__()).frame)
    hub.close()
    assert [e async for e in reader] == []
    assert got == list(range(1, 101))
    assert reader.dropped == 0


async def test_a_dropped_subscription_stops_collecting() -> None:
    hub = EventHub()
    reader: Subscription | None = hub.subscribe()
    assert len(hub._subscriptions) == 1
    del reader
    gc.collect()
    hub.emit(event(1))
    assert len(hub._subscriptions) == 0


def test_a_buffer_holds_at_least_one_event() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EventHub().subscribe(maxsize=0)
