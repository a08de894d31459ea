"""The alert pump: file-descriptor wake-ups on the loop, and the thread fallback."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import libtorrent
import pytest

from torframes.settings import Settings
from torframes.testing import LocalSwarm
from torframes.torrent.alerts import AlertPump
from torframes.torrent.client import Client


def quiet_session() -> libtorrent.session:
    return libtorrent.session(Settings.loopback().to_libtorrent())


@pytest.mark.parametrize("use_thread", [False, True], ids=["add_reader", "thread"])
async def test_pump_delivers_alerts_on_the_loop(use_thread: bool) -> None:
    loop = asyncio.get_running_loop()
    session = quiet_session()
    got: asyncio.Future[tuple[str, bool]] = loop.create_future()

    def handler(alerts: Sequence[libtorrent.alert]) -> None:
        for alert in alerts:
            if isinstance(alert, libtorrent.session_stats_alert) and not got.done():
                # copy out now: the alert dies at the next pop
                got.set_result((alert.what(), loop is asyncio.get_running_loop()))

    pump = AlertPump(session, handler, loop, use_thread=use_thread)
    try:
        assert pump.threaded is use_thread
        for _ in range(3):  # each request is answered by one alert
            session.post_session_stats()
        what, on_loop = await asyncio.wait_for(got, timeout=5)
        assert what == "session_stats"
        assert on_loop
    finally:
        pump.close()
        pump.close()  # idempotent
    del session


@pytest.mark.swarm
async def test_client_falls_back_to_a_thread_without_add_reader(
    swarm: LocalSwarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()

    def no_add_reader(*args: object) -> None:
        raise NotImplementedError("like the Windows proactor loop")

    monkeypatch.setattr(loop, "add_reader", no_add_reader)
    data = random.Random("thread").randbytes(50_000)
    seed = await swarm.aseed({"thread.bin": data}, piece_size=16 * 1024)
    async with Client(Settings.loopback()) as client:
        assert client._pump is not None
        assert client._pump.threaded
        torrent = await client.add(seed.magnet)
        assert await torrent.read(0, 20_000, 20_000) == data[20_000:40_000]
        assert torrent.stats.bytes_fetched == 2 * 16 * 1024
