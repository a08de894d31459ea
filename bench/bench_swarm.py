"""Time and bytes of a keyframe table and five screenshots in shaped swarms (issue 12).

    .venv/bin/python -m bench.bench_swarm [--quick] [--size-mb 262] [--scenario NAME ...]

Scenarios, each a :class:`torframes.testing.lab.Lab` on loopback:

- ``loopback``: four libtorrent seeders, unshaped;
- ``broadband``: eight libtorrent seeders, each behind a relay with 40 ms
  round trip (20 ms each way) and 2 MB/s;
- ``slow``: three seeders, 200 ms round trip, 200 KB/s each;
- ``mixed``: two libtorrent seeders, rTorrent, Transmission and one dead
  peer (accepts, never answers), unshaped. A client that cannot start here
  is left out, and the table says so.

The file is the large H.264 + AAC MP4 of ``bench_pipeline`` (encoded once,
cached in ``bench/.cache``), with ``moov`` at the tail and at the head,
in torrents of 256 KiB and 4 MiB pieces. For each, a fresh leecher is given
the infohash and the lab's peers and reports the time to the metadata
(BEP 9), to the keyframe table, to the first and to all five screenshots;
bytes fetched / piece floor and the seeders' own upload counters summed /
floor (duplicate blocks show there); then another fresh leecher downloads
the whole file in the same scenario (once per piece size: the moov's place
does not change it). Beside them the physical limit: the
round trips the protocol needs (connect, handshake, metadata, one per index
round, one for the frames) x RTT, plus the floor over the swarm's
bandwidth; and the ratios ours / limit and whole file / ours. Nothing is
asserted. ``--variant NAME='{"setting": value}'`` adds runs whose leecher
has those :class:`~torframes.Settings` (a boolean setting whose name holds
``duplicate``, e.g. duplicate block requests, gets a variant of its own
turned on, so the table shows both; ``--default-only`` runs neither).
``--quick`` is a smoke run: a 12 MB file, moov at the tail, 256 KiB
pieces, whole-file runs only where they take seconds (~1 min).
A full run takes roughly half an hour on two cores, most of it the slow
scenario's two whole-file downloads (262 MB at 600 KB/s: ~7 min each), plus
encoding the file the first time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_pipeline import make_files
from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.lab import Lab, Shape, total_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.torrent.client import Client

KiB, MiB = 1024, 1024 * 1024
SHOTS = 5


@dataclass(frozen=True)
class Scenario:
    """Who seeds, and each seeder's link."""

    name: str
    clients: tuple[str, ...]
    shape: Shape | None = None
    dead_peers: int = 0

    @property
    def rtt(self) -> float:
        """Round-trip time added by the relays, seconds."""
        return 2 * self.shape.latency_s if self.shape else 0.0

    def bandwidth(self, seeders: int) -> float | None:
        """Bytes/s the swarm can send, or None when unshaped (loopback)."""
        if self.shape is None or self.shape.rate is None:
            return None
        return seeders * self.shape.rate


SCENARIOS = {
    "loopback": Scenario("loopback", ("libtorrent",) * 4),
    "broadband": Scenario("broadband", ("libtorrent",) * 8, Shape(0.020, 2_000_000)),
    "slow": Scenario("slow", ("libtorrent",) * 3, Shape(0.100, 200_000)),
    "mixed": Scenario(
        "mixed", ("libtorrent", "libtorrent", "rtorrent", "transmission"), dead_peers=1
    ),
}

#: Connect (TCP), BEP 3 handshake + BEP 10 extension handshake, BEP 9 metadata,
#: then one round per index round and one for the frames.
FIXED_ROUNDS = 3


@dataclass
class Run:
    variant: str
    scenario: str
    layout: str
    piece_size: int
    seeders: str
    metadata_s: float = float("nan")
    table_s: float = float("nan")
    first_s: float = float("nan")
    all_s: float = float("nan")
    fetched: int = 0
    uploaded: int = 0
    floor: int = 0
    index_rounds: int = 0
    whole_s: float = float("nan")
    limit_s: float = float("nan")
    note: str = ""


async def job(lab: Lab, infohash: str, run: Run, overrides: dict[str, Any]) -> None:
    """Table and five screenshots from ``infohash`` over the lab's peers; fills ``run``."""
    settings = lab.settings(**{"metadata_timeout": 300, "piece_timeout": 600, **overrides})
    peers = lab.peers()
    async with Client(settings) as client:
        started = time.monotonic()
        torrent = await client.add(infohash, peers=peers)
        await torrent.wait_metadata()
        run.metadata_s = time.monotonic() - started
        video = await open_video(client, infohash, peers=peers, progress=False)
        run.table_s = time.monotonic() - started
        shots = 0
        async for _row, _image in video.frames(video.select(SHOTS, "even"), progress=False):
            shots += 1
            if shots == 1:
                run.first_s = time.monotonic() - started
        run.all_s = time.monotonic() - started
        stats = video.stats
        run.fetched, run.floor, run.index_rounds = (
            stats.bytes_fetched,
            stats.piece_floor,
            stats.index_rounds,
        )


async def whole_file(lab: Lab, infohash: str, overrides: dict[str, Any]) -> float:
    """Seconds to download every piece, from the infohash, over the lab's peers."""
    settings = lab.settings(**{"metadata_timeout": 300, "piece_timeout": 3600, **overrides})
    async with Client(settings) as client:
        started = time.monotonic()
        torrent = await client.add(infohash, peers=lab.peers())
        await torrent.wait_metadata()
        await torrent.fetch(range(torrent.num_pieces), timeout=3600)
        return time.monotonic() - started


def start_seeders(
    lab: Lab, scenario: Scenario, torrent: Path, content: Path
) -> tuple[list[str], list[str]]:
    """Seed with every client of ``scenario`` that starts here; (started, left out) names."""
    started, left_out = [], []
    for client in scenario.clients:
        try:
            lab.seed(torrent, content, client=client, shape=scenario.shape)
            started.append(client)
        except (ImportError, NotImplementedError, OSError, RuntimeError) as error:
            left_out.append(f"{client} ({type(error).__name__}: {str(error)[:60]})")
    for _ in range(scenario.dead_peers):
        lab.seed(torrent, content, behaviour="silent")
    return started, left_out


async def bench_one(
    scenario: Scenario,
    layout: str,
    path: Path,
    piece_size: int,
    root: Path,
    *,
    whole: dict[tuple[str, str, int], float] | None,
    variant: tuple[str, dict[str, Any]],
) -> Run:
    torrent = root / f"{layout}-{piece_size}.torrent"
    if not torrent.exists():  # hashed once, shared by the variants
        make_torrent(path, torrent, piece_size=piece_size)
    import libtorrent

    infohash = str(libtorrent.torrent_info(str(torrent)).info_hashes().v1)
    with Lab(root / f"lab-{variant[0]}-{scenario.name}-{layout}-{piece_size}") as lab:
        started, left_out = start_seeders(lab, scenario, torrent, path.parent)
        counts = Counter(started)
        names = ", ".join(f"{n} {c}" if n > 1 else c for c, n in counts.items())
        if scenario.dead_peers:
            names += f", {scenario.dead_peers} dead"
        run = Run(variant[0], scenario.name, layout, piece_size, names)
        if left_out:
            run.note = "left out: " + ", ".join(left_out)
        if not started:
            return run
        await job(lab, infohash, run, variant[1])
        run.uploaded = total_uploaded(lab.seeders)
        bandwidth = scenario.bandwidth(len(started))
        rounds = FIXED_ROUNDS + run.index_rounds + 1
        run.limit_s = rounds * scenario.rtt + (run.floor / bandwidth if bandwidth else 0.0)
        if whole is not None:
            # the whole file costs the same wherever its moov is: once per piece size
            key = (variant[0], scenario.name, piece_size)
            if key not in whole:
                whole[key] = await whole_file(lab, infohash, variant[1])
            run.whole_s = whole[key]
    return run


def report(runs: list[Run]) -> str:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b and b == b and a == a else "-"

    lines = [
        "| leecher | scenario | moov | piece | seeders | metadata s | table s | first s | "
        "5 shots s | fetched / floor | uploaded / floor | limit s | ours / limit | whole file s | "
        "whole / ours | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.variant} | {r.scenario} | {r.layout} | {r.piece_size // KiB} KiB | "
            f"{r.seeders} | "
            f"{r.metadata_s:.2f} | {r.table_s:.2f} | {r.first_s:.2f} | {r.all_s:.2f} | "
            f"{ratio(r.fetched, r.floor)} | {ratio(r.uploaded, r.floor)} | "
            f"{r.limit_s:.2f} | {ratio(r.all_s, r.limit_s) if r.limit_s else '-'} | "
            f"{r.whole_s:.2f} | {ratio(r.whole_s, r.all_s)} | {r.note} |"
        )
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> list[Run]:
    files = make_files(args.size_mb)
    layouts = ["tail"] if args.quick else ["tail", "head"]
    piece_sizes = [k * KiB for k in (args.piece_kib or ([256] if args.quick else [256, 4096]))]
    runs = []
    wholes: dict[tuple[str, str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="torframes-bench-swarm-") as folder:
        root = Path(folder)
        for variant, name in itertools.product(variants(args), args.scenario or list(SCENARIOS)):
            scenario = SCENARIOS[name]
            # --quick: the whole file only where it takes seconds
            whole = wholes if not args.quick or scenario.name != "slow" else None
            for layout in layouts:
                for piece_size in piece_sizes:
                    run = await bench_one(
                        scenario,
                        layout,
                        files[layout],
                        piece_size,
                        root,
                        whole=whole,
                        variant=variant,
                    )
                    runs.append(run)
                    print(report([run]).splitlines()[-1], flush=True)
    return runs


def variants(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """The leecher settings compared: the defaults, each ``--variant``, duplicate requests on."""
    found: list[tuple[str, dict[str, Any]]] = [("default", {})]
    if args.default_only:
        return found
    for text in args.variant or ():
        name, _, values = text.partition("=")
        found.append((name, json.loads(values or "{}")))
    for field, info in Settings.model_fields.items():
        if "duplicate" in field and info.annotation is bool and not info.default:
            found.append((field, {field: True}))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small file, one layout")
    parser.add_argument("--size-mb", type=int, default=None, help="file size (default 262)")
    parser.add_argument("--piece-kib", type=int, action="append", default=None)
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), default=None)
    parser.add_argument(
        "--variant", action="append", default=None, help="NAME='{\"setting\": value}'"
    )
    parser.add_argument(
        "--default-only", action="store_true", help="only the default leecher (no variants)"
    )
    args = parser.parse_args()
    if args.size_mb is None:
        args.size_mb = 12 if args.quick else 262
    runs = asyncio.run(bench(args))
    print(f"\nfile: ~{args.size_mb} MB; {SHOTS} screenshots; swarm lab on loopback\n")
    print(report(runs))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
