"""What a video job cost: bytes and pieces fetched against the piece floor, and times."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["VideoStats"]


@dataclass(frozen=True)
class VideoStats:
    """Bytes fetched against the piece floor of what was asked, and how long each step took.

    The piece floor is the total size of the distinct pieces holding any
    byte the job truly needed: the headers walked to the index, the index,
    and the samples asked for so far. Sizes are what fetching a piece costs
    on the wire (a v2 torrent's pieces end with their file; pad bytes are
    never sent). ``ratio`` is the headline figure; 1.0 means not one byte
    more than whole pieces allow.
    """

    file_size: int
    bytes_fetched: int
    pieces_fetched: int
    piece_floor: int
    floor_pieces: int
    index_rounds: int
    index_bytes: int
    frames: int
    time_to_metadata: float | None
    time_to_index: float | None
    frame_times: tuple[float, ...] = ()
    #: Clusters the index probe walked for keyframes (Matroska without Cues), or
    #: keyframe searches made (MPEG-TS, ``Settings.ts_search_*``), else 0;
    #: the bytes those probes could ask for at most (their bound), and asked for.
    cluster_probes: int = 0
    probe_budget: int | None = None
    probe_bytes: int | None = None
    #: What the persistent cache served (issue 13): the metadata, the parsed index,
    #: and the pieces of the floor found in storage (their count and payload bytes)
    #: rather than fetched from peers (``bytes_fetched``).
    metadata_from_cache: bool = False
    index_from_cache: bool = False
    cache_pieces: int = 0
    cache_bytes: int = 0
    #: Block mode (issue 16, ``Settings.read_mode="block"``): the block floor (the
    #: distinct 16 KiB blocks covering every byte needed: their count and wire size),
    #: PIECE payload the block reader received (``block_bytes``), BEP 52 hash bytes
    #: received, reads that fell back to whole pieces, and frames decoded from bytes
    #: no check vouched for (``Settings.verify="none"`` on a v1 torrent).
    read_mode: str = "piece"
    block_floor: int = 0
    floor_blocks: int = 0
    block_bytes: int = 0
    hash_bytes: int = 0
    block_fallbacks: int = 0
    unverified_frames: int = 0

    @property
    def ratio(self) -> float:
        """Bytes fetched / piece floor."""
        return self.bytes_fetched / self.piece_floor if self.piece_floor else float("nan")

    @property
    def block_ratio(self) -> float:
        """Block payload received / block floor: block mode's headline (1.0: not a byte more)."""
        return self.block_bytes / self.block_floor if self.block_floor else float("nan")

    @property
    def fraction_of_file(self) -> float:
        """Bytes fetched / file size."""
        return self.bytes_fetched / self.file_size if self.file_size else float("nan")

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["ratio"] = self.ratio
        out["fraction_of_file"] = self.fraction_of_file
        out["block_ratio"] = self.block_ratio
        return out
