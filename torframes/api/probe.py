"""Find and parse a video's index over a torrent, round by round.

Drives an :class:`~torframes.containers.base.IndexParser` (the shape of
``STYLE.md``'s "Parsers do no I/O"): each :class:`Need` becomes the set of
pieces covering its ranges, fetched together as one round and fed whole to
the parser (bytes of a piece beyond what was asked are free and often
answer the next question). A moov-at-head or moov-at-tail MP4 takes two
rounds after the first piece of headers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torframes.containers.base import (
    ByteRange,
    ContainerIndex,
    IndexLimits,
    IndexParser,
    Located,
    Need,
    SampleLocator,
)
from torframes.containers.sniff import AutoIndexParser
from torframes.errors import MalformedContainer, TorframesError
from torframes.plan.pieces import PieceGeometry, pieces_for_ranges
from torframes.torrent.torrent import Torrent

if TYPE_CHECKING:
    from torframes.torrent.wire import BlockReader

__all__ = ["Probe", "ProbeRound", "drive", "probe_index"]


@dataclass(frozen=True, slots=True)
class ProbeRound:
    """One round of a probe: why, which ranges, which new pieces, how long."""

    reason: str
    ranges: tuple[ByteRange, ...]
    pieces: tuple[int, ...]
    seconds: float


@dataclass(frozen=True)
class Probe:
    """A parsed index and the rounds it took."""

    index: ContainerIndex
    rounds: tuple[ProbeRound, ...]
    #: Pieces holding any byte the parser truly needed (the probe's piece floor).
    floor_pieces: frozenset[int]
    seconds: float
    #: Clusters probed for keyframes (a Matroska file without Cues), or keyframe
    #: searches made (an MPEG transport stream), else 0.
    cluster_probes: int = 0
    #: The bytes those probes could ask for at most, and what they asked for (bytes
    #: not held yet: the first Cluster often lies in the headers' piece);
    #: None without probing. Whole pieces holding them are fetched.
    probe_budget: int | None = None
    probe_bytes: int | None = None


async def drive(
    machine: IndexParser | SampleLocator,
    torrent: Torrent,
    file_index: int,
    geometry: PieceGeometry,
    *,
    extra_first_round: frozenset[int] = frozenset(),
    blocks: BlockReader | None = None,
) -> tuple[ContainerIndex | Located, list[ProbeRound]]:
    """Run a parser or locator to its answer, fetching each Need as one round of pieces.

    With ``blocks`` (``Settings.read_mode="block"``), each Need is read as the
    16 KiB blocks covering its ranges instead, and the parser is fed them whole.
    """
    fed: set[int] = set()
    rounds: list[ProbeRound] = []
    while True:
        step = machine.step()
        if not isinstance(step, Need):
            return step, rounds
        if blocks is not None:
            if rounds and rounds[-1].ranges == step.ranges:
                raise MalformedContainer(
                    f"the parser asked again for bytes it was given ({step.reason})"
                )
            rounds.append(await _feed_blocks(machine, step, blocks, file_index, geometry))
            continue
        wanted = pieces_for_ranges(geometry, step.ranges)
        if not rounds:
            wanted |= extra_first_round
        fresh = sorted(wanted - fed)
        if not fresh:
            raise MalformedContainer(
                f"the parser asked again for bytes it was given ({step.reason})"
            )
        started = time.monotonic()
        async for piece, data in torrent.stream_pieces(fresh):
            offset, view = geometry.file_slice(piece, data)
            if len(view):
                machine.feed(offset, view)
            fed.add(piece)
        rounds.append(
            ProbeRound(step.reason, step.ranges, tuple(fresh), time.monotonic() - started)
        )


async def _feed_blocks(
    machine: IndexParser | SampleLocator,
    step: Need,
    blocks: BlockReader,
    file_index: int,
    geometry: PieceGeometry,
) -> ProbeRound:
    """One round in block mode: the blocks covering ``step``'s ranges, fed whole."""
    started = time.monotonic()
    for wanted in step.ranges:
        clipped = wanted.clip(geometry.file_size)
        if clipped.length:
            read, at = await blocks.read_blocks(file_index, clipped.start, clipped.length)
            machine.feed(at, memoryview(read.data))
    pieces = tuple(sorted(pieces_for_ranges(geometry, step.ranges)))
    return ProbeRound(step.reason, step.ranges, pieces, time.monotonic() - started)


async def probe_index(
    torrent: Torrent,
    file_index: int,
    geometry: PieceGeometry,
    *,
    limits: IndexLimits | None = None,
    speculate_last_piece: bool = False,
    blocks: BlockReader | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Probe:
    """Parse the index of one file of ``torrent``.

    With ``speculate_last_piece`` the file's last piece is fetched in the
    first round too: one piece more, one round fewer for an index at the tail
    that fits in it. ``options`` go to the container's parser
    (:class:`~torframes.containers.sniff.AutoIndexParser`).
    """
    started = time.monotonic()
    parser = AutoIndexParser(geometry.file_size, limits, options=options)
    extra: frozenset[int] = frozenset()
    if speculate_last_piece and geometry.file_size:
        extra = frozenset(geometry.pieces(ByteRange(geometry.file_size - 1, geometry.file_size)))
    try:
        index, rounds = await drive(
            parser, torrent, file_index, geometry, extra_first_round=extra, blocks=blocks
        )
    except TorframesError as error:
        error.where(infohash=torrent.infohash, file=file_index)
        raise
    assert isinstance(index, ContainerIndex)
    floor = frozenset(pieces_for_ranges(geometry, index.index_ranges))
    seconds = time.monotonic() - started
    probed = getattr(parser.inner, "probe_result", None)  # Matroska without Cues, MPEG-TS
    if probed is None:
        return Probe(index, tuple(rounds), floor, seconds)
    return Probe(
        index,
        tuple(rounds),
        floor,
        seconds,
        cluster_probes=probed.probes,
        probe_budget=probed.budget,
        probe_bytes=probed.asked_bytes,
    )
