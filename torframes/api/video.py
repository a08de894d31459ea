"""``Video``: one video file of a torrent, its index as tables, its frames on demand.

Made by :func:`open_video` (``Client.open``): metadata, then the index
probe, then nothing more until frames are asked for. Each frame fetches only
the pieces holding its sample, and is decoded as soon as they are in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image

from torframes.api.files import choose_video_file
from torframes.api.probe import Probe, drive, probe_index
from torframes.api.progress import ProgressOption, report_progress
from torframes.api.stats import VideoStats
from torframes.containers.base import ByteRange, DecoderConfig, IndexLimits, Located
from torframes.decode.decoder import decode_sample, decode_until
from torframes.decode.names import screenshot_name
from torframes.decode.write import write_image
from torframes.errors import DecodeError, NoVideoFile, TorframesError, UnsupportedCodec
from torframes.plan.balance import DEFAULT_TOLERANCE
from torframes.plan.pieces import PieceGeometry, add_piece_columns, pieces_for_ranges
from torframes.plan.select import select_keyframes
from torframes.plan.times import check_times, warn_out_of_range
from torframes.plural import plural
from torframes.settings import Settings
from torframes.sync import run_sync, syncify
from torframes.torrent.wire import block_floor, block_reader

if TYPE_CHECKING:
    from torframes.torrent.client import Client
    from torframes.torrent.torrent import Torrent
    from torframes.widgets.explorer import KeyframeExplorer
    from torframes.widgets.grid import ThumbnailGrid

__all__ = ["Video", "open_video"]

RowLike = pd.Series | int


class Video:
    """One video file of a torrent: tracks, samples and keyframes as DataFrames; frames lazily."""

    def __init__(
        self,
        torrent: Torrent,
        file_index: int,
        geometry: PieceGeometry,
        probe: Probe,
        *,
        opened_at: float,
        settings: Settings | None = None,
        index_from_cache: bool = False,
        metadata_from_cache: bool | None = None,
    ) -> None:
        self.torrent = torrent
        #: The client's settings (``max_gop_samples``/``max_gop_bytes`` bound decoding).
        self.settings = settings if settings is not None else Settings()
        self.file = file_index
        self.geometry = geometry
        self.probe = probe
        self.index = probe.index
        self._opened_at = opened_at
        #: Seconds from opening to the parsed index (the probe has just ended).
        self._index_time = time.monotonic() - opened_at
        self._samples = add_piece_columns(self.index.samples, geometry)
        self.main_track = _main_video_track(self.index.tracks, infohash=torrent.infohash)
        self._needed_pieces: set[int] = set(probe.floor_pieces)
        self._frame_times: list[float] = []
        self._located: dict[Any, Located] = {}
        # block mode (issue 16): the blocks reader, the byte ranges truly needed (for the
        # block floor), offsets read unverified, and whether each frame's bytes were verified
        self._blocks = (
            block_reader(torrent, self.settings) if self.settings.read_mode == "block" else None
        )
        self._needed_ranges = [(r.start, r.length) for r in probe.index.index_ranges]
        self._unverified: set[int] = set()
        self._frame_verified: dict[Any, bool] = {}
        self._index_from_cache = index_from_cache
        if metadata_from_cache is None:
            metadata_from_cache = torrent.metadata_from_cache
        self._metadata_from_cache = metadata_from_cache

    # -- tables -------------------------------------------------------------------------------

    @property
    def files(self) -> pd.DataFrame:
        """The torrent's files."""
        return self.torrent.files

    @property
    def path(self) -> str:
        """This file's path inside the torrent (as the torrent names it: display only)."""
        files = self.torrent.files
        return str(files.loc[files["index"] == self.file, "path"].iloc[0])

    @property
    def tracks(self) -> pd.DataFrame:
        """One row per track."""
        return self.index.tracks

    @property
    def samples(self) -> pd.DataFrame:
        """One row per sample of every track, with ``piece_first`` and ``piece_last``."""
        return self._samples

    @property
    def keyframes(self) -> pd.DataFrame:
        """The main video track's keyframes."""
        samples = self._samples
        return samples[(samples["track_id"] == self.main_track) & samples["is_keyframe"]]

    @property
    def decoder_config(self) -> DecoderConfig:
        return self.index.decoder_configs[self.main_track]

    @property
    def duration(self) -> float:
        """Seconds the main track lasts (from the index; the last sample's start if unknown)."""
        tracks = self.index.tracks
        duration = tracks.loc[tracks["track_id"] == self.main_track, "duration_s"].iloc[0]
        if not pd.isna(duration):
            return float(duration)
        samples = self._samples
        times = samples.loc[samples["track_id"] == self.main_track, "time"]
        return float(times.max()) if len(times) else 0.0

    # -- selection ----------------------------------------------------------------------------

    def select(
        self,
        n: int = 5,
        strategy: str = "balanced",
        *,
        times: Sequence[float] | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> pd.DataFrame:
        """Pick keyframes by strategy (``"balanced"``, ``"even"``, ``"all"``, ``"cheapest"``).

        See :mod:`torframes.plan.select`. ``"balanced"`` (the default) spreads
        the picks over time, each within ``tolerance`` even gaps of the even
        spacing, preferring keyframes in pieces already held, shared or
        inside one piece; ``attrs["coverage"]`` of the result gives its cost
        in pieces and its largest gap against the even gap. When the answer differs from what was
        asked, a warning says how: fewer keyframes than ``n`` (the video has
        fewer, or they are unevenly spread), times before 0 or after
        :attr:`duration` clamped to the first or last keyframe, times that
        land on a keyframe already picked dropped
        (:mod:`torframes.warnings`). NaN or infinite times raise
        :class:`~torframes.errors.BadTime`; an ``n`` below 1 raises
        :class:`ValueError`.
        """
        return select_keyframes(
            self.keyframes,
            n,
            strategy,
            times=times,
            held=self.torrent.held_pieces(),
            end_time=self.duration,
            tolerance=tolerance,
            stacklevel=3,
        )

    # -- frames -------------------------------------------------------------------------------

    async def frame(
        self,
        row: RowLike,
        *,
        width: int | None = None,
        height: int | None = None,
        max_side: int | None = None,
    ) -> Image.Image:
        """The picture of one sample: a row of ``samples``/``select()``, or its index label.

        A keyframe is fetched and decoded alone. Any other frame (where the
        index lists every sample, as MP4's does) is decoded from the
        keyframe that opens its group of pictures: every sample from there
        to it, in decode order, is fetched.
        """
        row = self._row(row)
        config = self.index.decoder_configs.get(int(row["track_id"]))
        if config is None or not config.codec_name:
            raise UnsupportedCodec(
                f"no decoder for track {row['track_id']}",
                infohash=self.torrent.infohash,
                file=self.file,
            )
        size_options = {"width": width, "height": height, "max_side": max_side}
        try:
            if bool(row["is_keyframe"]):
                offset, size = await self._locate(row)
                data = await self._read(offset, size)
                offsets = [offset]
                image = await asyncio.to_thread(decode_sample, config, data, **size_options)
            else:
                chain = self._decode_chain(row)
                offsets = [int(o) for o in chain["offset"]]
                datas = await asyncio.gather(
                    *(self._read(int(r.offset), int(r.size)) for r in chain.itertuples())
                )
                packets = list(zip(datas, chain["pts"].tolist(), strict=True))
                image = await asyncio.to_thread(
                    decode_until, config, packets, int(row["pts"]), **size_options
                )
        except TorframesError as error:
            error.where(infohash=self.torrent.infohash, file=self.file)
            raise
        self._frame_times.append(time.monotonic() - self._opened_at)
        self._frame_verified[row.name] = self._unverified.isdisjoint(offsets)
        return image

    async def frame_at(self, seconds: float, **size: int | None) -> Image.Image:
        """The picture shown at ``seconds``: the main track's last frame starting by then.

        ``seconds`` before 0 give the first frame and after :attr:`duration` the
        last, with a :class:`~torframes.warnings.TimeRangeWarning`; NaN or
        infinity raise :class:`~torframes.errors.BadTime` (a ``ValueError``).
        """
        asked = check_times(seconds)
        if asked.size != 1:
            raise TypeError(f"frame_at takes one time in seconds, not {seconds!r}")
        samples = self._samples
        track = samples[samples["track_id"] == self.main_track].sort_values("time", kind="stable")
        times = track["time"].to_numpy()
        end = max(self.duration, float(times[-1]) if len(times) else 0.0)
        warn_out_of_range(asked, end, what=("the first frame", "the last frame"), stacklevel=2)
        position = max(0, int(np.searchsorted(times, asked[0], side="right")) - 1)
        return await self.frame(track.iloc[position], **size)

    async def _read(self, offset: int, size: int) -> bytes:
        self._needed_pieces |= set(self.geometry.pieces(ByteRange(offset, offset + size)))
        self._needed_ranges.append((offset, size))
        if self._blocks is None:
            return await self.torrent.read(self.file, offset, size)
        read = await self._blocks.read(self.file, offset, size)
        if not read.verified:
            self._unverified.add(offset)
        return read.data

    def _decode_chain(self, row: pd.Series) -> pd.DataFrame:
        """Rows from the keyframe opening ``row``'s GOP to ``row``, in decode order.

        Raises :class:`DecodeError` when they are more samples or bytes than
        the settings ``max_gop_samples``/``max_gop_bytes`` allow: checked here,
        before anything is fetched.
        """
        if not self.index.complete or pd.isna(row["sample"]):
            raise DecodeError(
                "only keyframes can be decoded from this index: it does not list every sample"
            )
        samples = self._samples
        track = samples[samples["track_id"] == row["track_id"]]
        track = track.sort_values(["dts", "sample"], kind="stable")
        sample_numbers = track["sample"].to_numpy(dtype=np.int64)
        end = int(np.flatnonzero(sample_numbers == int(row["sample"]))[-1])
        keyframes = np.flatnonzero(track["is_keyframe"].to_numpy()[: end + 1])
        if keyframes.size == 0:
            raise DecodeError(f"no keyframe before sample {row['sample']} to decode it from")
        chain = track.iloc[int(keyframes[-1]) : end + 1]
        settings = self.settings
        if len(chain) > settings.max_gop_samples:
            raise DecodeError(
                f"decoding sample {row['sample']} needs the {len(chain)} samples from its "
                f"keyframe on, more than max_gop_samples ({settings.max_gop_samples})"
            )
        size = int(chain["size"].sum())
        if size > settings.max_gop_bytes:
            raise DecodeError(
                f"decoding sample {row['sample']} needs {size:,} bytes from its keyframe on, "
                f"more than max_gop_bytes ({settings.max_gop_bytes:,})"
            )
        return chain

    async def frames(
        self,
        rows: pd.DataFrame | Sequence[RowLike],
        *,
        width: int | None = None,
        height: int | None = None,
        max_side: int | None = None,
        progress: ProgressOption = "auto",
        hashes: bool = False,
        skip_blank: bool = False,
    ) -> AsyncIterator[tuple[pd.Series, Image.Image]]:
        """Yield ``(row, image)`` for each row as soon as its own pieces are in.

        All rows' pieces are asked for at once; the order is arrival order.
        Cancelling the iteration cancels the outstanding fetches. ``progress``
        shows frames done, peers, pieces and bytes while it runs ("auto": in
        Jupyter or on a terminal; see :mod:`torframes.api.progress`).
        ``hashes=True`` adds ``phash``, ``dhash``, ``luma`` and ``blank`` to
        each row; ``skip_blank=True`` moves a blank pick to the next keyframe
        of its slice (rows gain ``moved`` and ``picked_time``). See
        :mod:`torframes.research.frames`.
        """
        items = [r for _, r in rows.iterrows()] if isinstance(rows, pd.DataFrame) else list(rows)
        rows_ = [self._row(r) for r in items]
        followers: dict[Any, pd.DataFrame] = {}
        if skip_blank:
            from torframes.research.frames import slice_followers

            followers = slice_followers(self.keyframes, rows_)

        async def one(row: pd.Series) -> tuple[pd.Series, Image.Image]:
            size = {"width": width, "height": height, "max_side": max_side}
            if hashes or skip_blank:
                from torframes.research.frames import research_frame

                follow = followers.get(row.name)
                return await research_frame(
                    self, row, follow, hashes=hashes, skip_blank=skip_blank, **size
                )
            image = await self.frame(row, **size)
            return row, image

        tasks = [asyncio.ensure_future(one(row)) for row in rows_]
        try:
            async with report_progress(
                progress, "frames", torrent=self.torrent, total=len(tasks), unit=" frames"
            ) as shown:
                for next_done in asyncio.as_completed(tasks):
                    item = await next_done
                    shown.advance()
                    yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def save(
        self,
        rows: pd.DataFrame | Sequence[RowLike],
        directory: str | Path,
        *,
        fmt: str = "jpeg",
        width: int | None = None,
        height: int | None = None,
        max_side: int | None = None,
        quality: int = 90,
        progress: ProgressOption | Callable[[int], object] = "auto",
        hashes: bool = False,
        skip_blank: bool = False,
    ) -> pd.DataFrame:
        """Fetch, decode and write each row's picture; return the rows with a ``path`` column.

        File names come from the infohash, the file index and the time only
        (see :func:`torframes.decode.names.screenshot_name`). ``progress`` is
        as for :meth:`frames`, or a function called with 1 after each picture
        is written (and then nothing is shown). ``hashes`` and ``skip_blank``
        add the columns described in :meth:`frames`.
        """
        callback = progress if callable(progress) else None
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        saved: list[tuple[Any, str]] = []
        found: list[pd.Series] = []
        async for row, image in self.frames(
            rows,
            width=width,
            height=height,
            max_side=max_side,
            progress=False if callback is not None else progress,
            hashes=hashes,
            skip_blank=skip_blank,
        ):
            found.append(row)
            name = screenshot_name(self.torrent.infohash, self.file, float(row["time"]), fmt)
            target = directory / name
            await asyncio.to_thread(write_image, image, target, fmt, quality)
            saved.append((row.name, str(target)))
            if callback is not None:
                callback(1)
        table = self._samples.loc[[label for label, _ in saved]].copy()
        table["path"] = pd.array([path for _, path in saved], dtype="string")
        if self._blocks is not None:
            table["verified"] = [self._frame_verified.get(label, True) for label, _ in saved]
        if hashes or skip_blank:
            from torframes.research.frames import research_columns

            extra = research_columns(found, hashes=hashes, skip_blank=skip_blank)
            table = table.join(extra)
        return table.sort_values("time", kind="stable")

    async def locate(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` with every sample's exact ``offset`` and ``size`` filled in.

        Rows from an index that lists only where keyframes roughly are
        (Matroska Cues: the Cluster) are located by reading the block header
        there, fetching only the pieces that hold it; rows already exact are
        returned as they are. All rows are located concurrently.
        """
        located = await asyncio.gather(*(self._locate(row) for _, row in rows.iterrows()))
        out = rows.copy()
        if located:
            out["offset"] = pd.array([offset for offset, _ in located], dtype="int64")
            out["size"] = pd.array([size for _, size in located], dtype="Int64")
        return add_piece_columns(
            out.drop(columns=["piece_first", "piece_last"], errors="ignore"), self.geometry
        )

    # -- accounting ---------------------------------------------------------------------------

    @property
    def needed_pieces(self) -> frozenset[int]:
        """Pieces holding a byte this video truly needed so far (index probe and frames asked)."""
        return frozenset(self._needed_pieces)

    @property
    def stats(self) -> VideoStats:
        """Bytes and pieces fetched, the piece floor of what was asked, and times.

        Bytes and pieces fetched are the torrent's: when several videos of
        one torrent are opened, compare them with the union of their
        :attr:`needed_pieces`.
        """
        t = self.torrent.stats
        return VideoStats(
            file_size=self.geometry.file_size,
            bytes_fetched=int(t.bytes_fetched),
            pieces_fetched=int(t.pieces_fetched),
            piece_floor=sum(self.torrent.transfer_size(p) for p in self._needed_pieces),
            floor_pieces=len(self._needed_pieces),
            index_rounds=len(self.probe.rounds),
            index_bytes=sum(r.length for r in self.index.index_ranges),
            frames=len(self._frame_times),
            time_to_metadata=t.metadata_seconds,
            time_to_index=self._index_time,
            frame_times=tuple(self._frame_times),
            cluster_probes=self.probe.cluster_probes,
            probe_budget=self.probe.probe_budget,
            probe_bytes=self.probe.probe_bytes,
            metadata_from_cache=self._metadata_from_cache,
            index_from_cache=self._index_from_cache,
            cache_pieces=len(self._needed_pieces & self.torrent.stored_pieces()),
            cache_bytes=sum(
                self.torrent.transfer_size(p)
                for p in self._needed_pieces & self.torrent.stored_pieces()
            ),
            **self._block_stats(),
        )

    def _block_stats(self) -> dict[str, Any]:
        """The block-mode fields of :class:`VideoStats` (issue 16)."""
        entry = self.torrent.layout.entry(self.file)
        ranges = [(start, length) for start, length in self._needed_ranges if length > 0]
        floor_blocks, floor = block_floor(self.torrent.layout, entry, ranges)
        blocks = self._blocks
        return {
            "read_mode": self.settings.read_mode,
            "block_floor": floor,
            "floor_blocks": floor_blocks,
            "block_bytes": blocks.block_bytes if blocks else 0,
            "hash_bytes": blocks.hash_bytes if blocks else 0,
            "block_fallbacks": blocks.fallbacks if blocks else 0,
            "unverified_frames": sum(not ok for ok in self._frame_verified.values()),
        }

    # -- helpers ------------------------------------------------------------------------------

    def _row(self, row: RowLike) -> pd.Series:
        if isinstance(row, pd.Series):
            return row
        return self._samples.loc[row]

    async def _locate(self, row: pd.Series) -> tuple[int, int]:
        if not pd.isna(row["size"]):
            return int(row["offset"]), int(row["size"])
        key = row.name
        if key not in self._located:
            if self.index.locator is None:
                raise TorframesError("row has no size and the index has no locator")
            locator = self.index.locator(row)
            located, rounds = await drive(
                locator, self.torrent, self.file, self.geometry, blocks=self._blocks
            )
            assert isinstance(located, Located)
            for done in rounds:
                self._needed_pieces |= pieces_for_ranges(self.geometry, done.ranges)
                self._needed_ranges += [(r.start, r.length) for r in done.ranges]
            self._located[key] = located
        located = self._located[key]
        return located.offset, located.size

    def __repr__(self) -> str:
        return (
            f"<Video {self.torrent.infohash[:12]}… file {self.file} {self.path!r}: "
            f"{self.index.container}, {plural(len(self.tracks), 'track')}, "
            f"{plural(len(self.keyframes), 'keyframe')}>"
        )

    # -- research (torframes.research) -------------------------------------------------------

    async def sheet(
        self, n: int = 16, columns: int = 4, *, max_side: int = 320, skip_blank: bool = False
    ) -> Image.Image:
        """A contact sheet: ``n`` evenly spread keyframes with timestamps under a header.

        The header names the file, its duration, codec, picture size and the
        bytes fetched against the file's size; ``skip_blank`` as in
        :meth:`frames`. See :mod:`torframes.research.sheet`.
        """
        from torframes.research.contact import video_sheet

        return await video_sheet(self, n, columns, max_side=max_side, skip_blank=skip_blank)

    # -- without await (torframes.sync) ------------------------------------------------------

    frame_sync = syncify(frame)
    save_sync = syncify(save)
    sheet_sync = syncify(sheet)

    def frames_sync(
        self,
        rows: pd.DataFrame | Sequence[RowLike],
        *,
        width: int | None = None,
        height: int | None = None,
        max_side: int | None = None,
        progress: ProgressOption = "auto",
    ) -> list[tuple[pd.Series, Image.Image]]:
        """Blocking form of :meth:`frames`: every ``(row, image)``, in the order of ``rows``."""

        async def collect() -> list[tuple[pd.Series, Image.Image]]:
            found = self.frames(
                rows, width=width, height=height, max_side=max_side, progress=progress
            )
            return [item async for item in found]

        arrived = run_sync(collect())
        if isinstance(rows, pd.DataFrame):
            labels = list(rows.index)
        else:
            labels = [row.name if isinstance(row, pd.Series) else row for row in rows]
        position = {label: i for i, label in reversed(list(enumerate(labels)))}
        return sorted(arrived, key=lambda item: position[item[0].name])

    # -- notebook face (torframes.widgets) ---------------------------------------------------

    def grid(
        self,
        rows: pd.DataFrame | int = 5,
        strategy: str = "balanced",
        *,
        columns: int = 5,
        max_side: int = 240,
        start: bool = True,
    ) -> ThumbnailGrid:
        """A thumbnail grid widget of ``rows`` (or of ``select(rows, strategy)`` for a count).

        Returns at once; the frames arrive in a task on the running loop.
        See :class:`torframes.widgets.ThumbnailGrid`.
        """
        from torframes.widgets.grid import ThumbnailGrid

        table = self.select(rows, strategy) if isinstance(rows, int) else rows
        return ThumbnailGrid(self, table, columns=columns, max_side=max_side, start=start)

    def explore(self, **options: Any) -> KeyframeExplorer:
        """A keyframe explorer widget; see :class:`torframes.widgets.KeyframeExplorer`."""
        from torframes.widgets.explorer import KeyframeExplorer

        return KeyframeExplorer(self, **options)

    def piece_map(self, rows: pd.DataFrame | None = None, **options: Any) -> Image.Image:
        """A picture of this file's pieces: fetched, untouched, the index, keyframes, ``rows``.

        See :func:`torframes.widgets.render_piece_map` for ``options``.
        """
        from torframes.widgets.piecemap import render_piece_map

        return render_piece_map(self, rows, **options).image

    def _repr_html_(self) -> str:
        from torframes.widgets.reprs import video_html

        return video_html(self)


def _main_video_track(tracks: pd.DataFrame, *, infohash: str | None) -> int:
    """The video track to take frames from.

    A track with a decoder beats one without; a moving picture (more than one
    sample) beats a still one (cover art stored as a one-frame video track);
    then the largest picture, then the most samples.
    """
    video = tracks[tracks["kind"] == "video"]
    if video.empty:
        raise NoVideoFile("the file has no video track", infohash=infohash)
    area = video["width"].fillna(0).astype("int64") * video["height"].fillna(0).astype("int64")
    ranked = video.assign(
        _area=area, _known=video["codec_name"].notna(), _moving=video["samples"] > 1
    )
    ranked = ranked.sort_values(
        ["_known", "_moving", "_area", "samples", "track_id"],
        ascending=[False, False, False, False, True],
    )
    return int(ranked.iloc[0]["track_id"])


async def open_video(
    client: Client,
    source: Any,
    file: int | str | None = None,
    peers: Sequence[tuple[str, int]] | None = None,
    *,
    metadata_timeout: float | None = None,
    limits: IndexLimits | None = None,
    speculate_last_piece: bool | None = None,
    progress: ProgressOption = "auto",
    picks: int | None = None,
) -> Video:
    """Add ``source`` to ``client``, wait for metadata, probe the index: a :class:`Video`.

    ``limits`` and ``speculate_last_piece`` default to the client's settings.
    ``picks``, the number of frames the caller will pick when known, bounds
    the probing of a file without an index (Matroska without Cues, MPEG
    transport streams): that many Clusters are probed, or times searched
    for, never more than ``cluster_probes``.
    ``progress`` shows peers, pieces and bytes while it waits ("auto": in
    Jupyter or on a terminal; see :mod:`torframes.api.progress`).
    """
    opened_at = time.monotonic()
    limits = _index_limits(client.settings, limits, picks)
    if client.disk_cache is not None:
        from torframes.api.cached import open_cached

        return await open_cached(
            client,
            source,
            file,
            peers,
            opened_at=opened_at,
            metadata_timeout=metadata_timeout,
            limits=limits,
            speculate_last_piece=speculate_last_piece,
            progress=progress,
        )
    torrent = await client.add(source, peers=list(peers) if peers else None)
    async with report_progress(progress, "metadata", torrent=torrent, unit=" pieces") as shown:
        await torrent.wait_metadata(timeout=metadata_timeout)
        shown.label = "index"
        return await _open_file(
            client,
            torrent,
            file,
            opened_at,
            limits=limits,
            speculate_last_piece=speculate_last_piece,
        )


def _index_limits(settings: Settings, limits: IndexLimits | None, picks: int | None) -> IndexLimits:
    """The parser bounds: ``limits`` or the settings', with ``picks`` bounding Cluster probes."""
    limits = limits or settings.index_limits()
    if picks is None:
        return limits
    if picks < 1:
        raise ValueError(f"picks must be at least 1, not {picks}")
    probes = min(limits.max_cluster_probes, picks)
    return dataclasses.replace(limits, max_cluster_probes=probes)


def file_geometry(torrent: Torrent, file: int | str | None) -> tuple[int, PieceGeometry]:
    """The index of ``file`` (default: the main video file) and its piece geometry."""
    if file is None:
        file_index = choose_video_file(torrent.layout.files, infohash=torrent.infohash)
    else:
        file_index = torrent.file_index(file)
    geometry = PieceGeometry(
        piece_length=torrent.piece_length,
        total_size=torrent.total_size,
        file_offset=torrent.file_offset(file_index),
        file_size=torrent.file_size(file_index),
    )
    return file_index, geometry


async def _open_file(
    client: Client,
    torrent: Torrent,
    file: int | str | None,
    opened_at: float,
    *,
    limits: IndexLimits,
    speculate_last_piece: bool | None,
) -> Video:
    """The :class:`Video` of ``file`` in ``torrent`` (metadata known): its index probed."""
    settings = client.settings
    file_index, geometry = file_geometry(torrent, file)
    probe = await probe_file(torrent, file_index, geometry, settings, limits, speculate_last_piece)
    return Video(torrent, file_index, geometry, probe, opened_at=opened_at, settings=settings)


async def probe_file(
    torrent: Torrent,
    file_index: int,
    geometry: PieceGeometry,
    settings: Settings,
    limits: IndexLimits,
    speculate_last_piece: bool | None,
) -> Probe:
    """Probe the index of ``file_index``; ``speculate_last_piece`` defaults to the settings'."""
    if speculate_last_piece is None:
        speculate_last_piece = settings.speculate_last_piece
    blocks = block_reader(torrent, settings) if settings.read_mode == "block" else None
    return await probe_index(
        torrent,
        file_index,
        geometry,
        limits=limits,
        speculate_last_piece=speculate_last_piece and blocks is None,
        blocks=blocks,
        options=settings.parser_options(),
    )
