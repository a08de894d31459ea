"""Sources: magnets, infohashes, .torrent paths and bytes; bad ones say what is wrong."""

from __future__ import annotations

import asyncio
import base64
import random
from pathlib import Path

import pytest

from torframes.errors import BadSource, PermanentError
from torframes.testing import LocalSwarm
from torframes.torrent.client import Client
from torframes.torrent.sources import parse_source

V1 = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
V2 = "d8dd32ac93357c368556af3ac1d95c9d76bd0dff6fa9833ecdac3d53134efabb"


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("magnet:?xt=urn:btih:abc", "malformed magnet URI"),
        ("magnet:?dn=nothing", "missing info-hash"),
        ("magnet:?xt=urn:btih:" + "0" * 40, "no usable infohash"),
        ("magnet:?xt=urn:btmh:1220abcd", "malformed magnet URI"),
        ("abc123", "has 6 digits; a v1 infohash has 40, a v2 infohash 64"),
        ("a" * 63, "has 63 digits"),
        ("g" * 40, "not hexadecimal: 'g' at position 0"),
        ("0" * 39 + "x", "not hexadecimal: 'x' at position 39"),
        ("z" * 64, "not hexadecimal"),
        ("1" * 32, "not base32"),
        ("hello world", "not a magnet URI, an infohash"),
        ("", "empty source"),
        (
            "http://example.com/film.torrent",
            "'http://example.com/film.torrent' is a URL, and URLs are not sources: "
            "download the .torrent file first and give its path",
        ),
        ("HTTPS://example.com/x?id=1", "is a URL, and URLs are not sources"),
        ("ftp://example.com/film.torrent", "is a URL, and URLs are not sources"),
        ("/nonexistent/movie.torrent", "no such .torrent file: '/nonexistent/movie.torrent'"),
        (Path("/nonexistent/x.torrent"), "no such .torrent file"),
        (b"garbage", "the .torrent data is not a valid torrent"),
        (b"", "the .torrent data is empty"),
        (b"d4:infod4:name3:fooee", "piece length"),
        (12345, "not int"),
    ],
)
def test_bad_sources_say_what_is_wrong(source: object, complaint: str) -> None:
    with pytest.raises(BadSource) as caught:
        parse_source(source)  # type: ignore[arg-type]
    assert complaint in str(caught.value)
    assert isinstance(caught.value, PermanentError)


def test_bad_torrent_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.torrent"
    corrupt.write_bytes(b"d8:announce")
    with pytest.raises(BadSource, match=r"corrupt\.torrent.* is not a valid torrent"):
        parse_source(corrupt)
    with pytest.raises(BadSource, match="is a directory"):
        parse_source(str(tmp_path) + "/")


@pytest.mark.parametrize(
    ("source", "kind", "key"),
    [
        (V1, "infohash", V1),
        (V1.upper(), "infohash", V1),
        (base64.b32encode(bytes.fromhex(V1)).decode(), "infohash", V1),
        (V2, "infohash", V2),
        (f"magnet:?xt=urn:btih:{V1}&x.pe=127.0.0.1:6881", "magnet", V1),
        (f"magnet:?xt=urn:btmh:1220{V2}", "magnet", V2),
    ],
)
def test_good_sources(source: str, kind: str, key: str) -> None:
    parsed = parse_source(source)
    assert parsed.kind == kind
    assert parsed.key == key


def test_magnet_peers_go_to_params() -> None:
    parsed = parse_source(f"magnet:?xt=urn:btih:{V1}&x.pe=127.0.0.1:6881&x.pe=127.0.0.2:7000")
    assert list(parsed.params.peers) == [("127.0.0.1", 6881), ("127.0.0.2", 7000)]


@pytest.mark.swarm
async def test_client_add_every_kind_of_source(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    data = random.Random("kinds").randbytes(40_000)
    seed = await swarm.aseed({"kinds.bin": data}, piece_size=16 * 1024, version="hybrid")
    v2_seed = await swarm.aseed({"kinds2.bin": data}, piece_size=16 * 1024, version="v2")
    path = tmp_path / "kinds.torrent"
    path.write_bytes(seed.torrent_bytes)

    torrent = await client.add(seed.infohash_v1 or "", peers=[swarm.address])
    assert torrent.infohash == seed.infohash
    assert await torrent.read(0, 39_990, 10) == data[-10:]
    # the same torrent, however named, is the same object
    v1_base32 = base64.b32encode(bytes.fromhex(seed.infohash)).decode()
    same = [
        seed.magnet,
        seed.torrent_bytes,
        path,
        str(path),
        v1_base32,
        seed.infohash.upper(),
        seed.infohash_v2 or "",
    ]
    for source in same:
        assert await client.add(source) is torrent
    assert torrent.infohash_v2 == seed.infohash_v2

    v2 = await client.add(v2_seed.infohash_v2 or "", peers=[swarm.address])
    assert v2.infohash == v2_seed.infohash == v2_seed.infohash_v2
    assert v2.infohash_v1 is None
    assert await v2.read("kinds2.bin", 0, 10) == data[:10]

    with pytest.raises(BadSource, match="not hexadecimal"):
        await client.add("q" * 40)
    with pytest.raises(BadSource, match=r"no such \.torrent file"):
        await client.add(tmp_path / "missing.torrent")
    with pytest.raises(ValueError, match="port"):
        await client.add(seed.magnet, peers=[("127.0.0.1", 0)])
    assert len(client.torrents) == 2


@pytest.mark.swarm
async def test_concurrent_adds_of_one_torrent_share_it(swarm: LocalSwarm, client: Client) -> None:
    seed = await swarm.aseed({"twice.bin": b"x" * 20_000}, piece_size=16 * 1024)
    first, second = await asyncio.gather(client.add(seed.magnet), client.add(seed.torrent_bytes))
    assert first is second
    assert set(first.peers) == {swarm.address}
