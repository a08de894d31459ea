"""The Dask worker side: each worker's session listens within ``listen_port_range``.

Real libtorrent sessions on 127.0.0.1; a port of the range held by a socket
of this test is skipped, and two sessions made from the same settings (two
worker processes of one machine) take the next free ports in turn.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from torframes.errors import SettingsError
from torframes.service.dask_worker import plugin_name, worker_settings
from torframes.settings import Settings
from torframes.torrent.client import Client


def _free_run(length: int) -> int:
    """The first port of ``length`` consecutive loopback ports free right now (TCP and UDP)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + length > 65535:
            continue
        held = []
        try:
            for port in range(first, first + length):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    sock = socket.socket(socket.AF_INET, kind)
                    held.append(sock)
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return first
    raise RuntimeError("no run of free loopback ports")


async def _listen_port(client: Client, deadline: float = 10.0) -> int:
    """The port the client's session listens on, once it has bound one."""
    assert client.session is not None
    end = time.monotonic() + deadline
    while not (port := client.session.listen_port()):
        assert time.monotonic() < end, "the session bound no port"
        await asyncio.sleep(0.02)
    return int(port)


async def test_sessions_take_the_free_ports_of_the_range_in_turn() -> None:
    first = _free_run(4)
    taken = socket.socket()
    taken.bind(("127.0.0.1", first))  # held by someone else: the sessions skip it
    taken.listen()
    settings = worker_settings(
        Settings.loopback(cache=False, listen_port_range=f"{first}-{first + 3}")
    )
    assert settings.listen_interfaces == f"127.0.0.1:{first}"
    clients = [Client(settings), Client(settings)]
    try:
        ports = []
        for client in clients:  # one after another, as worker processes come up
            await client.start()
            ports.append(await _listen_port(client))
    finally:
        for client in clients:
            await client.close()
        taken.close()
    assert ports == [first + 1, first + 2]


def test_without_a_range_the_interfaces_are_kept() -> None:
    settings = Settings.loopback(cache=False)
    assert worker_settings(settings) is settings


def test_every_interface_gets_the_first_port() -> None:
    settings = Settings(
        listen_interfaces="0.0.0.0:6881,[::]:6881", listen_port_range="7000-7009", cache=False
    )
    made = worker_settings(settings)
    assert made.listen_interfaces == "0.0.0.0:7000,[::]:7000"
    assert made.to_libtorrent()["max_retry_port_bind"] == 9


@pytest.mark.parametrize("text", ["7010-7000", "0-10", "7000", "a-b", "7000-70000"])
def test_a_bad_range_is_one_settings_error(text: str) -> None:
    with pytest.raises(SettingsError, match=r"listen_port_range.*FIRST-LAST"):
        Settings(listen_port_range=text)


def test_one_plugin_per_distinct_settings() -> None:
    one = Settings.loopback(cache=False, metadata_timeout=5.0)
    assert plugin_name(one) == plugin_name(Settings.loopback(cache=False, metadata_timeout=5.0))
    assert plugin_name(one) != plugin_name(Settings.loopback(cache=False, metadata_timeout=6.0))
