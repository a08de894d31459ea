"""Hypothesis-driven damage to a container file, for the parsers' fuzz tests.

A few edits (changed, 0xFF or zero bytes, inserted or deleted runs), half
of them near the ``spots`` where a container's headers keep sizes and
offsets. Needs ``hypothesis`` (a test dependency), imported when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["mutate"]


def mutate(data: Any, original: bytes, spots: Sequence[int]) -> bytes:
    """``original`` with 1 to 8 edits drawn from ``data`` (a hypothesis ``st.data()`` object)."""
    from hypothesis import strategies as st

    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        if data.draw(st.booleans()):
            at = data.draw(st.sampled_from(spots)) + data.draw(st.integers(0, 7))
        else:
            at = data.draw(st.integers(0, len(mutated) - 1))
        at = min(at, len(mutated) - 1)
        kind = data.draw(st.sampled_from(["byte", "byte", "ff", "zero", "insert", "delete"]))
        if kind == "byte":
            mutated[at] = data.draw(st.integers(0, 255))
        elif kind == "ff":
            mutated[at] = 0xFF
        elif kind == "zero":
            mutated[at] = 0
        elif kind == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del mutated[at : at + data.draw(st.integers(1, 16))]
    return bytes(mutated)
