"""What fetching a torrent cost: pieces, payload bytes, rounds and times."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

__all__ = ["TorrentStats"]


@dataclass(frozen=True)
class TorrentStats:
    """A snapshot of one torrent's transfer counters.

    Byte counts come from libtorrent's ``torrent_status`` and are exact:
    ``bytes_fetched`` is ``total_payload_download`` (piece data only, no
    protocol overhead, no metadata). Times are ``time.monotonic()`` seconds,
    except ``piece_times``, which are seconds since the torrent was added.
    """

    #: Pieces downloaded and verified since the torrent was added.
    pieces_fetched: int
    #: Payload bytes downloaded (``total_payload_download``).
    bytes_fetched: int
    #: Payload bytes downloaded more than once (``total_redundant_bytes``).
    redundant_bytes: int
    #: Payload bytes of pieces that failed their hash check (``total_failed_bytes``).
    failed_bytes: int
    #: ``fetch``/``stream_pieces``/``read`` calls that asked for new pieces.
    rounds: int
    #: When the torrent was added (monotonic seconds).
    added_at: float
    #: When its metadata was known (monotonic seconds), None before.
    metadata_at: float | None
    #: Seconds after ``added_at`` at which each fetched piece was verified.
    piece_times: Mapping[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "piece_times", MappingProxyType(dict(self.piece_times)))

    @property
    def metadata_seconds(self) -> float | None:
        """Seconds from adding the torrent to knowing its metadata."""
        return None if self.metadata_at is None else self.metadata_at - self.added_at

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (``piece_times`` as a dict), for logs and JSON."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values["piece_times"] = dict(self.piece_times)
        values["metadata_seconds"] = self.metadata_seconds
        return values
