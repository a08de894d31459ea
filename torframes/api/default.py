"""``torframes.open``: the pipeline on a module-level default client.

One default :class:`~torframes.Client` per event loop, made on first use
with :class:`~torframes.Settings` from the environment and closed when the
process exits (or by :func:`close_default_client`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torframes.api.progress import ProgressOption
    from torframes.api.video import Video
    from torframes.torrent.client import Client
    from torframes.torrent.sources import Source

__all__ = ["close_default_client", "default_client", "open"]

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Client] = weakref.WeakKeyDictionary()


async def default_client() -> Client:
    """The running loop's default client, started on first use."""
    from torframes.torrent.client import Client

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.closed:
        client = Client()
        _clients[loop] = client
    await client.start()
    return client


async def open(
    source: Source,
    file: int | str | None = None,
    peers: Iterable[tuple[str, int]] | None = None,
    *,
    progress: ProgressOption = "auto",
) -> Video:
    """:meth:`Client.open` on the default client."""
    client = await default_client()
    return await client.open(source, file=file, peers=peers, progress=progress)


async def close_default_client() -> None:
    """Close the running loop's default client, if any."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.close()
