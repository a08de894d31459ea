"""Whether a failed attempt is worth another, and how long to wait before it.

Classification is by type, from the exception tree in :mod:`torframes.errors`:

- a :class:`~torframes.RetryableError` (no metadata in time, no peers, pieces
  not in time, a piece failed, storage over budget) is retried with
  exponential backoff, up to ``service_max_retries`` times;
- a :class:`~torframes.PermanentError` (bad source, no video file, a
  malformed or unsupported container, an unsupported codec) fails the job;
- anything else is a bug somewhere: the job fails with the exception's class
  name, and the service goes on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from torframes.errors import RetryableError

__all__ = ["Backoff", "error_kind", "error_text", "is_retryable"]


def is_retryable(error: BaseException) -> bool:
    """True when the same job may succeed if tried again later."""
    return isinstance(error, RetryableError)


def error_kind(error: BaseException) -> str:
    """What the results' ``error_kind`` column shows: the exception's class name."""
    return type(error).__name__


def error_text(error: BaseException) -> str:
    """The message (with infohash and file for torframes errors), never empty."""
    return str(error) or repr(error)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base * 2**(retry - 1)`` seconds, at most ``cap``, with jitter.

    ``jitter`` spreads each delay over ``[1 - jitter, 1]`` of its value, so
    jobs that failed together do not all come back at the same moment.
    """

    base: float
    cap: float
    jitter: float = 0.2

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry < 1 or self.base <= 0:
            return 0.0
        value = min(self.cap, self.base * 2.0 ** (retry - 1))
        spread = (rng or random).random() * self.jitter
        return value * (1.0 - spread)
