"""The notebooks' nbval sanitizer masks honest nondeterminism only, never a value we compare."""

from __future__ import annotations

import re
from pathlib import Path

from nbval.plugin import get_sanitize_patterns

CONFIG = Path(__file__).resolve().parents[2] / "notebooks" / "sanitize.cfg"


def sanitize(text: str) -> str:
    """What nbval does to an output before comparing it."""
    for regex, replace in get_sanitize_patterns(CONFIG.read_text()):
        text = re.sub(regex, replace, text)
    return text


def test_deterministic_seconds_are_compared() -> None:
    for text in (
        "640×360 h264, 60.042 s, 30 keyframes",  # a video's duration in its repr
        "22.00 s · #528 · 5.9 KiB",  # a tile's caption
        "keyframe at 12.5 s",
        "gop_s 2.0 s",
    ):
        assert sanitize(text) == text


def test_nondeterministic_timings_are_masked() -> None:
    one = sanitize("job 3 retry: MetadataTimeout: no metadata (again in 0.4 s)")
    two = sanitize("job 3 retry: MetadataTimeout: no metadata (again in 0.37 s)")
    assert one == two == "job 3 retry: MetadataTimeout: no metadata (again in <SECONDS>)"
    assert sanitize("sample.mp4 3.2it/s") == sanitize("sample.mp4 11.9it/s")
    assert sanitize("x.pe=127.0.0.1:40655") == sanitize("x.pe=127.0.0.1:51234")
