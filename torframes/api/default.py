"""``torframes.open``: the pipeline on a module-level default client.

One default :class:`~torframes.Client` per event loop, made on first use
with :class:`~torframes.Settings` from the environment. It is closed (its
torrents removed, its temporary storage folder deleted) by
:func:`close_default_client`, or when its loop shuts down:

- ``asyncio.run(main())`` (and :class:`asyncio.Runner`) closes it when
  ``main`` ends, whether it returned, raised or was interrupted by Ctrl-C;
- the private loop of the sync facade (``torframes.open_sync``) closes it
  when the process exits (:mod:`torframes.sync`);
- any other loop's (a Jupyter kernel's) is closed at process exit by
  :func:`close_at_exit`, or, if that loop was closed without shutting down
  its async generators, at least has its temporary storage deleted.

How: each default client is held by an async generator started on its loop.
The loop keeps track of the async generators it runs and, when it shuts
down, ``loop.shutdown_asyncgens()`` closes each one (PEP 525, "Finalization"),
running the generator's ``finally`` clause, which closes the client. That
happens after ``asyncio.run`` has cancelled the loop's remaining tasks, so
they finish with the client still open.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import weakref
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torframes.api.progress import ProgressOption
    from torframes.api.video import Video
    from torframes.torrent.client import Client
    from torframes.torrent.sources import Source

__all__ = ["close_default_client", "default_client", "open"]


@dataclass
class _Default:
    """A loop's default client and the async generator whose closing closes it."""

    client: Client
    keeper: AsyncGenerator[None, None]


_defaults: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Default] = (
    weakref.WeakKeyDictionary()
)


async def _keep(client: Client) -> AsyncGenerator[None, None]:
    """Suspend at the ``yield`` until closed (by the loop's shutdown), then close ``client``."""
    try:
        yield
    finally:
        await client.close()


async def default_client() -> Client:
    """The running loop's default client, started on first use."""
    from torframes.torrent.client import Client

    loop = asyncio.get_running_loop()
    default = _defaults.get(loop)
    if default is None or default.client.closed:
        replaced = default
        client = Client()
        keeper = _keep(client)
        await keeper.asend(None)  # started on this loop: its shutdown_asyncgens closes it
        default = _defaults[loop] = _Default(client, keeper)
        if replaced is not None:  # a default client closed by hand: let its keeper go
            await replaced.keeper.aclose()
    await default.client.start()
    return default.client


async def open(
    source: Source,
    file: int | str | None = None,
    peers: Iterable[tuple[str, int]] | None = None,
    *,
    progress: ProgressOption = "auto",
    picks: int | None = None,
) -> Video:
    """:meth:`Client.open` on the default client."""
    client = await default_client()
    return await client.open(source, file=file, peers=peers, progress=progress, picks=picks)


async def close_default_client() -> None:
    """Close the running loop's default client, if any."""
    default = _defaults.pop(asyncio.get_running_loop(), None)
    if default is not None:
        await default.keeper.aclose()


def close_at_exit(executor: concurrent.futures.ThreadPoolExecutor) -> None:
    """At interpreter exit: close the default clients their loops left open.

    A loop that is neither running nor closed (a Jupyter kernel's, once the
    kernel stops) runs :func:`close_default_client` once more, with
    ``executor`` (one that runs calls inline: worker threads are gone at
    exit) as its default executor. Whatever could not be closed so (its
    loop already closed, or a second Ctrl-C) still has its temporary storage
    folder deleted at exit by the :class:`Client`'s own finalizer.
    """
    for loop, default in list(_defaults.items()):
        if default.client.closed or loop.is_running() or loop.is_closed():
            continue
        loop.set_default_executor(executor)
        loop.run_until_complete(default.keeper.aclose())
