"""Container indexes: parsers that turn byte ranges into track and sample tables.

Each container has its own subpackage (``mp4``, ``matroska``, ``avi``); ``sniff``
picks one from the first bytes; ``local`` drives a parser over a file on
disk. Parsers do no I/O.

**One shape for every container.** A parser is written as one generator
*task* (:data:`~torframes.containers.reading.Task`) that reads the bytes it
holds through a :class:`~torframes.containers.reading.Reads`, yields a
:class:`~torframes.containers.base.Need` (byte ranges and a reason) when they
do not suffice, and returns its
:class:`~torframes.containers.base.ContainerIndex`::

    def _run(self) -> Task[ContainerIndex]:
        head = yield from self._reads.bytes(0, 16, "header")  # asked for unless held
        where = read_header(head)  # a pure reader: bytes in, facts out
        body = yield from self._reads.bytes(where.start, where.stop, "the index")
        return build_index(read_index(body))

Ask for everything the next step can use in one Need: each Need is a round
trip to the swarm. Sub-steps are tasks too, composed with ``yield from``
(``FragmentWalk.run``, Matroska's ``find_block``); a task walking forward
over unknown sizes reads through a :class:`~torframes.containers.reading.Window`.

The parser class subclasses :class:`~torframes.containers.reading.TaskParser`
and writes ``_run``; its :class:`~torframes.containers.reading.Runner` turns
the task into the ``feed``/``step`` contract of
:mod:`~torframes.containers.base` that drivers (the torrent probe,
:func:`index_file`) run: ``feed`` goes to the ``Reads``; ``step`` resumes
the task until its next Need or its result, and makes errors sticky.
Bad input comes out as the project's
:class:`~torframes.errors.ContainerError`, raised by the readers; any other
exception is a reader's missing check, reported as an "internal error"
(or let out as itself: ``Runner(..., internal_errors=False)``, MP4).

Budgets live in two places. Memory: ``Reads`` (a soft budget past which only
what was asked for, or what its ``keep`` callback names, is kept; an
optional hard cap, ``IndexLimits.max_buffer_bytes`` for MP4). Input bounds:
:class:`~torframes.containers.base.IndexLimits` (index size, samples,
depth, search windows), checked by the readers before anything is allocated.
"""

from torframes.containers.base import (
    ByteRange,
    ContainerIndex,
    DecoderConfig,
    IndexLimits,
    IndexParser,
    Need,
)
from torframes.containers.local import LocalIndex, index_file
from torframes.containers.sniff import AutoIndexParser, sniff

__all__ = [
    "AutoIndexParser",
    "ByteRange",
    "ContainerIndex",
    "DecoderConfig",
    "IndexLimits",
    "IndexParser",
    "LocalIndex",
    "Need",
    "index_file",
    "sniff",
]
