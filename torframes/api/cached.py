"""Opening a video through the persistent cache (:mod:`torframes.cache`).

Under the torrent's cross-process lock: the torrent is added with its
cached metadata if any (no peer needed), and the index is read from the
cache, or probed and stored. libtorrent checks the pieces kept in storage
against their hashes (a corrupted one is not held, so it is fetched again)
while the video is returned; the first piece asked for waits for that check
(``Torrent.fetch``), as does a probe.
The pieces the probe fetched are flushed to storage before the lock is
released, so a second process opening the same torrent meanwhile waits and
then fetches nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from torframes.api.progress import ProgressOption, report_progress
from torframes.containers.base import IndexLimits
from torframes.torrent.sources import parse_source

if TYPE_CHECKING:
    from torframes.api.video import Video
    from torframes.torrent.client import Client

__all__ = ["open_cached"]

log = logging.getLogger(__name__)


async def _keep(write: Callable[..., object], *args: Any) -> None:
    """Write a cache entry in a worker thread; a cache that cannot be written is only warned about.

    (A full disk or a cache folder made read-only costs the next open its
    savings, never this one its result.)
    """
    try:
        await asyncio.to_thread(write, *args)
    except (OSError, ImportError) as error:
        log.warning("could not write to the torframes cache: %s", error)


async def open_cached(
    client: Client,
    source: Any,
    file: int | str | None,
    peers: Sequence[tuple[str, int]] | None,
    *,
    opened_at: float,
    metadata_timeout: float | None,
    limits: IndexLimits,
    speculate_last_piece: bool | None,
    progress: ProgressOption = "auto",
) -> Video:
    """:func:`~torframes.api.video.open_video` with the cache (``client.disk_cache``) on."""
    from torframes.api.video import Video, file_geometry, probe_file
    from torframes.torrent.wire import reads_unverified

    cache = client.disk_cache
    assert cache is not None
    settings = client.settings
    key = (await asyncio.to_thread(parse_source, source)).key
    async with cache.lock(key):
        peer_list = list(peers) if peers else None
        torrent = await client.add(source, peers=peer_list)
        async with report_progress(progress, "metadata", torrent=torrent, unit=" pieces"):
            await torrent.wait_metadata(timeout=metadata_timeout)
        metadata_from_cache = torrent.metadata_from_cache
        if not metadata_from_cache:
            info = torrent.handle.torrent_file()
            await _keep(cache.save_metadata, info)
            if client.pieces_in_cache and not torrent.held_pieces():
                # Added before its metadata was known, the torrent keeps pieces in
                # libtorrent's part file; added again from the metadata just
                # stored, it keeps them in its own (renamed) files, checked on add.
                await torrent.remove(delete_files=True)
                torrent = await client.add(source, peers=peer_list)
        file_index, geometry = file_geometry(torrent, file)
        probe = await asyncio.to_thread(cache.load_probe, torrent.infohash, file_index, geometry)
        from_cache = probe is not None
        if probe is None:
            await torrent.wait_checked()  # the pieces kept are held before the probe asks
            async with report_progress(progress, "index", torrent=torrent, unit=" pieces"):
                probe = await probe_file(
                    torrent, file_index, geometry, settings, limits, speculate_last_piece
                )
            await torrent.flush()
            if not reads_unverified(torrent, settings):  # never keep an unchecked index
                await _keep(cache.save_probe, torrent.infohash, file_index, geometry, probe)
        await _keep(cache.touch, torrent.infohash)
    return Video(
        torrent,
        file_index,
        geometry,
        probe,
        opened_at=opened_at,
        settings=settings,
        index_from_cache=from_cache,
        metadata_from_cache=metadata_from_cache,
    )
