"""Counted nouns for reprs, captions and messages: ``1 file``, ``2 files``, ``1,024 pieces``.

English plural by ``s`` unless told otherwise; the count is written with
thousands separators so every repr and caption agrees on one form.
"""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and the noun in the number it needs: ``plural(1, "round") == "1 round"``."""
    noun = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {noun}"
