"""The one exception tree of torframes.

Every error the project raises on purpose is a :class:`TorframesError`.
Whether a failed job is worth retrying is told by type: a
:class:`RetryableError` may succeed later (a slow swarm, a seeder that shows
up); a :class:`PermanentError` will fail again on the same input::

    TorframesError
    ├── SettingsError                      (permanent)  a setting is invalid
    │   └── InvalidSettings                            a bad field value (torframes.settings)
    ├── ClientClosed                       (permanent)  the client was closed while waiting
    ├── ClusterUnreachable                 (retryable)  the Dask scheduler cannot be reached
    ├── BadTime                            (permanent)  a time that is not finite (a ValueError)
    ├── TorrentError
    │   ├── BadSource                      (permanent)  not a magnet, infohash or .torrent
    │   ├── NoSuchFile                     (permanent)  no such file in the torrent
    │   ├── NoVideoFile                    (permanent)  the torrent holds no video file
    │   ├── MetadataTimeout                (retryable)  no metadata in time (also a TimeoutError)
    │   ├── NoPeers                        (retryable)  no way to find a peer, or none found
    │   ├── PieceTimeout                   (retryable)  pieces not in time (also a TimeoutError)
    │   ├── PieceFailed                    (retryable)  a piece failed its hash check or read
    │   ├── ReadTooLarge                   (permanent)  a read longer than max_read_bytes
    │   └── StorageBudgetExceeded          (retryable)  temporary piece storage is over its budget
    ├── ContainerError                     (permanent)
    │   ├── MalformedContainer                         the bytes break the container's rules
    │   │   └── TruncatedContainer                     the container ends before it should
    │   ├── IndexTooLarge                              the index is larger than the configured cap
    │   └── UnsupportedContainer                       not a container we read (says what it is)
    └── DecodeError                        (permanent)
        └── UnsupportedCodec                           no decoder for the track's codec

Every error can carry the infohash and the file it concerns; ``str()`` shows
them after the message so a batch log line says where it happened.
"""

from __future__ import annotations

__all__ = [
    "BadSource",
    "BadTime",
    "ClientClosed",
    "ClusterUnreachable",
    "ContainerError",
    "DecodeError",
    "IndexTooLarge",
    "MalformedContainer",
    "MetadataTimeout",
    "NoPeers",
    "NoSuchFile",
    "NoVideoFile",
    "PermanentError",
    "PieceFailed",
    "PieceTimeout",
    "ReadTooLarge",
    "RetryableError",
    "SettingsError",
    "StorageBudgetExceeded",
    "TorframesError",
    "TorrentError",
    "TruncatedContainer",
    "UnsupportedCodec",
    "UnsupportedContainer",
]


class TorframesError(Exception):
    """Base of every error torframes raises on purpose.

    ``infohash`` and ``file`` name the torrent and the file (index or path)
    the error concerns, when known; they can be attached later with
    :meth:`where` as the error crosses a layer that knows them.
    """

    def __init__(
        self,
        message: str,
        *,
        infohash: str | None = None,
        file: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.infohash = infohash
        self.file = file

    def where(
        self, *, infohash: str | None = None, file: int | str | None = None
    ) -> TorframesError:
        """Fill in the torrent and file this error concerns, if not known yet; returns self."""
        if self.infohash is None:
            self.infohash = infohash
        if self.file is None:
            self.file = file
        return self

    @property
    def retryable(self) -> bool:
        """True when the same job may succeed if tried again later."""
        return isinstance(self, RetryableError)

    def describe(self) -> str:
        """The message with what the error itself knows of where (a byte offset...)."""
        return self.message

    def __str__(self) -> str:
        context = []
        if self.infohash is not None:
            context.append(f"infohash {self.infohash}")
        if self.file is not None:
            context.append(f"file {self.file!r}")
        if not context:
            return self.describe()
        return f"{self.describe()} ({', '.join(context)})"


class RetryableError(TorframesError):
    """The job may succeed later: retry it, with backoff."""


class PermanentError(TorframesError):
    """The job will fail again on the same input: record it, do not retry."""


class SettingsError(PermanentError):
    """A setting has a value libtorrent or torframes cannot use."""


class ClientClosed(PermanentError):
    """The client was closed while this operation was waiting."""


class ClusterUnreachable(RetryableError):
    """The Dask scheduler a batch runs on cannot be reached (``cluster=``, ``--scheduler``)."""


class BadTime(PermanentError, ValueError):
    """A time that is not a finite number of seconds (NaN, infinity, not a number)."""


class TorrentError(TorframesError):
    """Something went wrong getting a torrent or its pieces."""


class BadSource(TorrentError, PermanentError):
    """The source is not a magnet URI, an infohash or a readable ``.torrent``."""


class NoSuchFile(TorrentError, PermanentError):
    """The torrent has no file with that index or path."""


class NoVideoFile(TorrentError, PermanentError):
    """The torrent holds no file that looks like a video."""


class MetadataTimeout(TorrentError, RetryableError, TimeoutError):
    """The torrent's metadata (BEP 9) did not arrive within the timeout."""


class NoPeers(TorrentError, RetryableError):
    """No peer can be found for this torrent: none given and no way to look, or none found.

    Retryable: a peer may be given, or may announce itself, later.
    """


class PieceTimeout(TorrentError, RetryableError, TimeoutError):
    """Pieces asked for did not arrive within the timeout."""

    def __init__(self, message: str, *, pieces: tuple[int, ...] = (), **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.pieces = pieces


class PieceFailed(TorrentError, RetryableError):
    """A piece failed its hash check or could not be read back from storage."""


class ReadTooLarge(TorrentError, PermanentError):
    """A read asked for more bytes than ``Settings.max_read_bytes`` lets one read hold."""


class StorageBudgetExceeded(TorrentError, RetryableError):
    """Temporary piece storage would grow past its configured budget."""


class ContainerError(PermanentError):
    """The video container cannot be indexed.

    ``offset`` is the byte of the file where the problem lies, when known;
    ``str()`` shows it once, after the message (``"... at byte 40"``), so a
    message must not name it again. ``message`` stays without it, for
    callers that quote one error inside another.
    """

    def __init__(self, message: str, *, offset: int | None = None, **context: object) -> None:
        super().__init__(message, **context)  # type: ignore[arg-type]
        self.offset = offset

    def describe(self) -> str:
        if self.offset is None:
            return self.message
        return f"{self.message} at byte {self.offset}"


class MalformedContainer(ContainerError):
    """The bytes break the container's rules (a lying size, a bad count, a loop)."""


class TruncatedContainer(MalformedContainer):
    """The container ends before a structure it declares is complete."""


class IndexTooLarge(ContainerError):
    """The index (``moov``, Cues) is larger than the configured cap."""


class UnsupportedContainer(ContainerError):
    """The file is not in a container torframes reads; the message says what was found."""


class DecodeError(PermanentError):
    """A sample could not be decoded to an image."""


class UnsupportedCodec(DecodeError):
    """No decoder is available for the track's codec."""
