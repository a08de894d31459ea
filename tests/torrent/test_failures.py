"""Timeouts, closing and removal: clear errors, and the client stays usable."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from torframes.errors import (
    ClientClosed,
    MetadataTimeout,
    NoPeers,
    PermanentError,
    PieceFailed,
    PieceTimeout,
    ReadTooLarge,
    RetryableError,
)
from torframes.settings import Settings
from torframes.testing import LocalSwarm
from torframes.torrent import client as client_module
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024


def contents(key: str, size: int) -> bytes:
    return random.Random(key).randbytes(size)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Give the loop turns until ``predicate()`` holds; fail after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"not {what} after {timeout} s"
        await asyncio.sleep(0)


def waiting(*tasks: asyncio.Task[object]) -> Callable[[], bool]:
    """True once every task's coroutine has started and is suspended at an await."""
    return lambda: all(
        inspect.getcoroutinestate(task.get_coro()) == inspect.CORO_SUSPENDED for task in tasks
    )


def unreachable_magnet(key: str) -> str:
    infohash = random.Random(key).randbytes(20).hex()
    return f"magnet:?xt=urn:btih:{infohash}&dn={key}&x.pe=127.0.0.1:{closed_port()}"


async def test_good_torrent_after_failures(swarm: LocalSwarm) -> None:
    """MetadataTimeout, then PieceTimeout, then a good torrent on the same client."""
    settings = Settings.loopback(metadata_timeout=0.5, piece_timeout=0.5)
    async with Client(settings) as client:
        # 1. nobody has the metadata
        lost = await client.add(unreachable_magnet("lost"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(MetadataTimeout) as caught:
            await lost.wait_metadata()
        assert loop.time() - started >= 0.5  # not before the configured time
        assert "no metadata within 0.5 s (1 peer(s) given" in str(caught.value)
        # the message says what to try, by setting and by flag
        for hint in ("metadata_timeout", "--peer HOST:PORT", "enable_dht"):
            assert hint in str(caught.value)
        assert caught.value.infohash == lost.infohash
        assert lost.infohash in str(caught.value)
        assert isinstance(caught.value, RetryableError)
        assert isinstance(caught.value, TimeoutError)
        with pytest.raises(MetadataTimeout):  # read waits for metadata the same way
            await lost.read(0, 0, 1)

        # 2. metadata arrives, then the only seeder goes away
        data = contents("gone", 4 * PIECE)
        gone = await swarm.aseed({"gone.bin": data}, piece_size=PIECE)
        orphan = await client.add(gone.magnet)
        await orphan.wait_metadata()
        await swarm.aremove(gone)
        started = loop.time()
        with pytest.raises(PieceTimeout) as timed_out:
            await orphan.read("gone.bin", PIECE - 1, 2)
        assert loop.time() - started >= 0.5
        assert "2 of 2 pieces did not arrive within 0.5 s" in str(timed_out.value)
        assert timed_out.value.pieces == (0, 1)
        assert timed_out.value.file == "gone.bin"
        assert timed_out.value.infohash == orphan.infohash
        with pytest.raises(PieceTimeout):
            await orphan.fetch([3], timeout=0.2)
        assert gone.uploaded() == 0

        # 3. the client still works
        good_data = contents("good", 3 * PIECE)
        good = await swarm.aseed({"good.bin": good_data}, piece_size=PIECE)
        torrent = await client.add(good.magnet)
        assert await torrent.read(0, 0, len(good_data)) == good_data
        assert good.wait_uploaded(len(good_data)) == len(good_data)
        assert set(client.torrents) == {lost.infohash, orphan.infohash, torrent.infohash}


async def first_piece(stream: object) -> tuple[int, bytes]:
    return await anext(aiter(stream))  # type: ignore[call-overload]


async def test_close_cancels_pending_waits_and_deletes_storage(swarm: LocalSwarm) -> None:
    data = contents("closing", 4 * PIECE)
    seed = await swarm.aseed({"closing.bin": data}, piece_size=PIECE)
    client = Client(Settings.loopback(metadata_timeout=30, piece_timeout=30))
    await client.start()
    storage = client.storage_dir
    assert storage is not None
    assert storage.is_dir()

    waiting_for_metadata = await client.add(unreachable_magnet("never"))
    metadata_wait = asyncio.create_task(waiting_for_metadata.wait_metadata())
    torrent = await client.add(seed.magnet)
    await torrent.read(0, 0, 10)  # piece 0 now in storage
    assert any(path.is_file() for path in storage.rglob("*"))
    await swarm.aremove(seed)  # nothing else will arrive
    piece_wait = asyncio.create_task(torrent.read(0, 2 * PIECE, 10))
    stream_wait = asyncio.create_task(first_piece(torrent.stream_pieces([3])))
    await until(waiting(metadata_wait, piece_wait, stream_wait), "waiting")
    assert list(torrent.handle.get_piece_priorities())[1:] == [0, 7, 7]
    assert not (metadata_wait.done())
    assert not (piece_wait.done())
    assert not (stream_wait.done())

    await client.close()
    for task in (metadata_wait, piece_wait, stream_wait):
        with pytest.raises(ClientClosed):
            await task
    assert client.closed
    assert not client.torrents
    assert client.session is None
    assert not storage.exists()
    with pytest.raises(ClientClosed):
        await client.add(seed.magnet)
    with pytest.raises(ClientClosed):
        await torrent.read(0, 0, 10)
    await client.close()  # idempotent


async def test_remove_fails_its_waits_and_forgets_the_torrent(
    swarm: LocalSwarm, client: Client
) -> None:
    seed = await swarm.aseed({"removed.bin": contents("removed", 2 * PIECE)}, piece_size=PIECE)
    torrent = await client.add(seed.magnet)
    await torrent.fetch([0])
    await swarm.aremove(seed)
    waiting_fetch = asyncio.create_task(torrent.fetch([1]))
    await until(waiting(waiting_fetch), "waiting")
    assert torrent.handle.piece_priority(1) == 7
    save_path = Path(torrent.save_path)
    assert await asyncio.to_thread(save_path.exists)
    await torrent.remove()
    with pytest.raises(ClientClosed, match="removed"):
        await waiting_fetch
    assert torrent.removed
    assert torrent.infohash not in client.torrents
    assert client.get(torrent.infohash) is None
    assert not await asyncio.to_thread(save_path.exists)
    assert torrent.stats.pieces_fetched == 1  # the last counters stay readable
    await torrent.remove()  # idempotent
    # adding it again makes a new torrent
    again = await client.add(seed.torrent_bytes)
    assert again is not torrent
    assert client.torrents[again.infohash] is again


async def test_kept_storage_dir_survives_close(swarm: LocalSwarm, tmp_path: Path) -> None:
    data = contents("kept", 2 * PIECE)
    seed = await swarm.aseed({"kept.bin": data}, piece_size=PIECE, version="hybrid")
    settings = Settings.loopback(storage_dir=tmp_path / "store")
    async with Client(settings) as client:
        torrent = await client.add(seed.torrent_bytes, peers=[swarm.address])
        assert await torrent.read("kept.bin", PIECE, 5) == data[PIECE : PIECE + 5]
        assert torrent.stats.bytes_fetched == PIECE
    stored = [path for path in (tmp_path / "store").rglob("*") if path.is_file()]
    assert stored
    assert all(path.stat().st_size > 0 for path in stored)

    # a new client finds the piece in storage and fetches nothing
    async with Client(settings) as client:
        torrent = await client.add(seed.torrent_bytes, peers=[swarm.address])
        assert await torrent.read("kept.bin", PIECE, 5) == data[PIECE : PIECE + 5]
        assert torrent.stats.bytes_fetched == 0
    assert seed.wait_uploaded(PIECE) == PIECE


def test_swarm_on_a_fixed_port_and_a_taken_one() -> None:
    port = closed_port()
    with LocalSwarm(port=port) as fixed:
        assert fixed.address == ("127.0.0.1", port)
        with pytest.raises(RuntimeError, match="cannot listen"), LocalSwarm(port=port):
            pass
    with pytest.raises(ValueError, match="loopback"):
        LocalSwarm(host="10.0.0.1")


async def test_abandoned_fetches_drop_their_pieces_back_to_priority_zero(
    swarm: LocalSwarm,
) -> None:
    """A cancelled or timed-out wait stops asking for pieces nobody else waits for."""
    async with Client(Settings.loopback(piece_timeout=5)) as client:
        seed = await swarm.aseed({"drop.bin": contents("drop", 4 * PIECE)}, piece_size=PIECE)
        torrent = await client.add(seed.magnet)
        await torrent.wait_metadata()
        await swarm.aremove(seed)  # nothing will arrive now

        def priorities() -> list[int]:
            return list(torrent.handle.get_piece_priorities())

        shared = asyncio.ensure_future(torrent.fetch([0, 1]))
        alone = asyncio.ensure_future(torrent.fetch([1, 2]))
        await until(waiting(shared, alone), "waiting")
        assert priorities()[:3] == [7, 7, 7]
        alone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await alone
        assert priorities()[:3] == [7, 7, 0]  # piece 1 is still wanted by the other wait
        with pytest.raises(PieceTimeout):
            await torrent.fetch([3], timeout=0.2)
        assert priorities()[3] == 0
        shared.cancel()
        with pytest.raises(asyncio.CancelledError):
            await shared
        assert priorities() == [0, 0, 0, 0]


async def test_no_way_to_find_a_peer_fails_at_once_with_no_peers(swarm: LocalSwarm) -> None:
    """No peer given, no tracker, DHT and LSD off: NoPeers at once, saying what to add."""
    data = contents("lonely", 2 * PIECE)
    seed = await swarm.aseed({"lonely.bin": data}, piece_size=PIECE)
    bare = seed.magnet.split("&x.pe=")[0]
    # a metadata timeout long enough that only failing early can pass the test
    async with Client(Settings.loopback(metadata_timeout=3600, piece_timeout=3600)) as client:
        magnet = await client.add(bare)
        with pytest.raises(NoPeers) as caught:
            await magnet.wait_metadata()
        for hint in ("no peer given", "--peer HOST:PORT", "peers=", "enable_dht"):
            assert hint in str(caught.value)
        assert caught.value.infohash == magnet.infohash
        assert caught.value.retryable
        with pytest.raises(NoPeers):
            await magnet.read(0, 0, 1)

        # metadata from a .torrent, still no peer: fetching fails the same way
        await magnet.remove()
        torrent = await client.add(seed.torrent_bytes)
        with pytest.raises(NoPeers, match="cannot fetch pieces"):
            await torrent.read("lonely.bin", 0, 10)
        assert torrent.handle.piece_priority(0) == 0  # nothing was asked for
        # once a peer is given, the same torrent works
        torrent.add_peers([swarm.address])
        assert await torrent.read("lonely.bin", 0, 10) == data[:10]
    assert seed.wait_uploaded(PIECE) == PIECE


def test_command_line_exits_3_on_no_peers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """NoPeers is retryable: the documented exit code 3, and the hint on stderr."""
    from torframes.cli.main import main

    for name, value in Settings.loopback(metadata_timeout=3600).to_environment().items():
        monkeypatch.setenv(name, value)
    infohash = random.Random("no-peers-cli").randbytes(20).hex()
    assert main(["info", f"magnet:?xt=urn:btih:{infohash}", "-q"]) == 3
    error = capsys.readouterr().err
    assert "NoPeers" in error
    assert "--peer HOST:PORT" in error


async def test_no_peer_found_by_the_timeout_is_no_peers() -> None:
    """A tracker that never answers: no peer known at the timeout, so NoPeers."""
    infohash = random.Random("untracked").randbytes(20).hex()
    tracker = f"http://127.0.0.1:{closed_port()}/announce"
    magnet = f"magnet:?xt=urn:btih:{infohash}&tr={tracker}"
    async with Client(Settings.loopback(metadata_timeout=0.5)) as client:
        torrent = await client.add(magnet)
        with pytest.raises(NoPeers) as caught:
            await torrent.wait_metadata()
    assert "no peer found for the torrent within 0.5 s (0 peer(s) given" in str(caught.value)
    assert "--peer HOST:PORT" in str(caught.value)
    assert not isinstance(caught.value, MetadataTimeout)


async def test_a_read_longer_than_the_cap_fails_before_fetching(swarm: LocalSwarm) -> None:
    """A hostile length within the file is refused before any piece is asked for."""
    data = contents("capped", 40 * PIECE)
    seed = await swarm.aseed({"capped.bin": data}, piece_size=PIECE)
    async with Client(Settings.loopback(max_read_bytes=2 * PIECE)) as client:
        torrent = await client.add(seed.magnet)
        await torrent.wait_metadata()
        for start, length in ((0, len(data)), (PIECE - 1, 2 * PIECE + 1)):
            with pytest.raises(ReadTooLarge) as caught:
                await torrent.read("capped.bin", start, length)
            assert f"a read of {length} bytes is longer than max_read_bytes" in str(caught.value)
            assert caught.value.file == "capped.bin"
            assert isinstance(caught.value, PermanentError)
        assert torrent.stats.rounds == 0
        assert set(torrent.handle.get_piece_priorities()) == {0}
        # exactly the cap is allowed
        assert await torrent.read("capped.bin", 1, 2 * PIECE) == data[1 : 2 * PIECE + 1]
    assert seed.wait_uploaded(3 * PIECE) == 3 * PIECE


@contextlib.contextmanager
def alerts_lost(client: Client) -> Iterator[None]:
    """Alerts libtorrent posts meanwhile never reach the client: they are popped and dropped.

    The client's alert pump stops watching its socket; on exit the queued
    alerts are discarded and the pump watches again. The session is real:
    this loses answers the way a full alert queue does.
    """
    pump, loop, session = client._pump, client._loop, client.session
    assert pump is not None
    assert loop is not None
    assert session is not None
    socket_fd = pump._read.fileno()
    loop.remove_reader(socket_fd)
    try:
        yield
    finally:
        session.pop_alerts()
        loop.add_reader(socket_fd, pump._pump)


async def test_a_read_whose_answer_was_lost_is_issued_again(swarm: LocalSwarm) -> None:
    """After a read of a held piece times out, the next read asks libtorrent again."""
    data = contents("lost-read", 2 * PIECE)
    seed = await swarm.aseed({"lost-read.bin": data}, piece_size=PIECE)
    async with Client(Settings.loopback(piece_cache_bytes=0, piece_timeout=1)) as client:
        torrent = await client.add(seed.magnet)
        await torrent.fetch([1])
        with alerts_lost(client), pytest.raises(PieceFailed, match="read back"):
            await torrent.piece(1)
        assert await torrent.piece(1) == data[PIECE:]
    assert seed.wait_uploaded(PIECE) == PIECE


async def test_unconfirmed_removals_are_not_kept(
    swarm: LocalSwarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A removal libtorrent's confirmation never reaches leaves no future behind."""
    monkeypatch.setattr(client_module, "REMOVE_TIMEOUT", 0.2)
    async with Client(Settings.loopback()) as client:
        for key in ("unconfirmed-1", "unconfirmed-2"):
            seed = await swarm.aseed({f"{key}.bin": contents(key, PIECE)}, piece_size=PIECE)
            torrent = await client.add(seed.magnet)
            await torrent.wait_metadata()
            with alerts_lost(client):
                await torrent.remove()
            assert torrent.removed
            assert not client._removing
            await torrent.remove()  # a second call does not wait again
        assert not client.torrents
