"""What a job is: a source, the options it runs with, and the key that makes it unique.

A job is one source (magnet, infohash, ``.torrent`` path or bytes) and the
:class:`JobOptions` it runs with: which keyframes (``n``, ``strategy``,
``times``), which file, extra peers, where and how screenshots are written,
and whether the keyframe table is exported. Submitting the same source with
the same options again names the same job (its :func:`job_key`), so a batch
started twice over one store runs each job once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from torframes.decode.names import FORMATS
from torframes.plan.select import STRATEGIES

__all__ = [
    "FINAL_STATUSES",
    "STATUSES",
    "JobOptions",
    "SourceSpec",
    "job_key",
    "peers_of",
    "source_spec",
    "torrent_key",
]

#: A job's status in the store and in results.
STATUSES = ("queued", "running", "done", "failed")
#: Statuses a job never leaves.
FINAL_STATUSES = frozenset({"done", "failed"})

#: Keyframe table formats a job can export.
TABLE_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class JobOptions:
    """How one job runs; every field has a default, so ``JobOptions()`` is a valid job.

    ``n``/``strategy``/``times`` choose keyframes (see
    :meth:`torframes.Video.select`); ``n=0`` with no ``times`` fetches no
    frame. ``file`` is a file index or path (default: the largest video).
    ``peers`` are extra ``(host, port)`` pairs. Screenshots go to
    ``output`` (default: the service's output folder) as ``fmt`` images,
    scaled so the longer side is at most ``max_side``. ``keyframes``
    (``"csv"`` or ``"parquet"``) also writes the keyframe table there.
    ``sheet`` also writes a contact sheet of the job's screenshots there
    (``<infohash>-f<file>.sheet.<ext>``, see :mod:`torframes.research.sheet`).
    """

    n: int = 5
    strategy: str = "balanced"
    times: tuple[float, ...] | None = None
    file: int | str | None = None
    peers: tuple[tuple[str, int], ...] = ()
    output: str | None = None
    fmt: str = "jpeg"
    max_side: int | None = None
    quality: int = 90
    keyframes: str | None = None
    sheet: bool = False

    @property
    def picks(self) -> int | None:
        """How many frames the job picks (None: every keyframe, or none): bounds index probing."""
        if self.times:
            return len(self.times)
        return None if self.strategy == "all" or self.n == 0 else self.n

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise ValueError(f"n is a count of keyframes, not {self.n!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        if self.times is not None:
            object.__setattr__(self, "times", tuple(float(t) for t in self.times))
        fmt = "jpeg" if str(self.fmt).lower() in ("jpg", "jpeg") else str(self.fmt).lower()
        if fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {sorted(FORMATS)}, not {self.fmt!r}")
        object.__setattr__(self, "fmt", fmt)
        if self.max_side is not None and (not isinstance(self.max_side, int) or self.max_side < 1):
            raise ValueError(f"max_side is a positive number of pixels, not {self.max_side!r}")
        if not isinstance(self.quality, int) or not 1 <= self.quality <= 100:
            raise ValueError(f"quality is 1..100, not {self.quality!r}")
        if self.keyframes is not None and self.keyframes not in TABLE_FORMATS:
            raise ValueError(f"keyframes must be one of {TABLE_FORMATS} or None")
        peers = []
        for peer in self.peers:
            try:
                host, port = peer
            except (TypeError, ValueError):
                raise ValueError(f"a peer is a (host, port) pair, not {peer!r}") from None
            peers.append((str(host), int(port)))
        object.__setattr__(self, "peers", tuple(peers))
        if self.output is not None:
            object.__setattr__(self, "output", os.fspath(self.output))

    @classmethod
    def make(cls, defaults: JobOptions | None = None, **options: Any) -> JobOptions:
        """Options from keywords over ``defaults``; unknown names raise :class:`TypeError`."""
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown job options: {', '.join(sorted(unknown))}")
        base = defaults.to_dict() if defaults is not None else {}
        base.update(options)
        if base.get("output") is not None:
            base["output"] = os.fspath(base["output"])
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        values = asdict(self)
        values["times"] = list(self.times) if self.times is not None else None
        values["peers"] = [list(peer) for peer in self.peers]
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> JobOptions:
        values = json.loads(text)
        if values.get("times") is not None:
            values["times"] = tuple(values["times"])
        values["peers"] = tuple(tuple(peer) for peer in values.get("peers", ()))
        return cls(**values)


@dataclass(frozen=True)
class SourceSpec:
    """A source as the store keeps it: text to show and, for ``.torrent`` bytes, the bytes."""

    text: str
    data: bytes | None = None

    def value(self) -> str | bytes:
        """What to hand to :meth:`Client.add <torframes.Client.add>`."""
        return self.data if self.data is not None else self.text


def source_spec(source: Any) -> SourceSpec:
    """Normalise a source: stripped text, an absolute path, or bytes shown by their hash."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return SourceSpec(f"torrent-bytes:{hashlib.sha1(data).hexdigest()}", data)
    if isinstance(source, os.PathLike):
        return SourceSpec(os.path.abspath(os.fspath(source)))
    if isinstance(source, str):
        return SourceSpec(source.strip())
    raise TypeError(
        f"a source is a magnet URI, an infohash, a .torrent path or .torrent bytes, "
        f"not {type(source).__name__}"
    )


def job_key(source: SourceSpec, options: JobOptions) -> str:
    """The job's identity: a hash of the normalised source and the options."""
    text = json.dumps([source.text, options.to_dict()], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def torrent_key(source: SourceSpec) -> str | None:
    """The infohash a source names, without fetching anything (None if it names none).

    Reads a ``.torrent`` file when given a path: call it off the event loop.
    """
    from torframes.errors import BadSource
    from torframes.torrent.sources import parse_source

    try:
        return parse_source(source.value()).key or None
    except (BadSource, OSError):
        return None


def peers_of(options: JobOptions) -> Sequence[tuple[str, int]]:
    """The job's extra peers, as :meth:`Client.add <torframes.Client.add>` takes them."""
    return list(options.peers)
