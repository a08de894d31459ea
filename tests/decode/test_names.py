"""Screenshot names for every finite time, negative ones included, sorting by time."""

from __future__ import annotations

import math

import pytest

from torframes.decode.names import screenshot_name, time_label

INFOHASH = "ab" * 20


def test_negative_times_get_safe_names() -> None:
    # FFmpeg's times for B-frame pre-roll and frames an edit list moves before zero
    name = screenshot_name(INFOHASH, 0, -0.083, "jpeg")
    assert name == f"{INFOHASH}-f0-t-999999.917.jpg"
    assert "/" not in name
    assert "\\" not in name
    assert not name.startswith("-")
    assert time_label(-1.0) == "t-999999.000"
    assert time_label(-999999.999) == "t-000000.001"
    assert time_label(-1e9) == "t--1000000000.000"


def test_times_that_round_to_zero_are_named_as_zero() -> None:
    assert time_label(-0.0) == time_label(0.0) == time_label(-0.0004) == "t000000.000"
    assert time_label(-0.0006) == "t-999999.999"


def test_names_sort_by_time() -> None:
    times = [-1e7, -5.5, -1.0, -0.5, -0.083, -0.001, 0.0, 0.001, 0.5, 12.3456, 3599.0]
    names = [screenshot_name(INFOHASH, 2, t, "png") for t in times]
    assert sorted(names) == names
    assert len(set(names)) == len(names)


def test_positive_names_are_unchanged() -> None:
    assert time_label(12.3456) == "t000012.346"
    assert time_label(0.0125) == f"t{0.0125:010.3f}"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_time_that_is_not_a_number_is_refused_with_a_clear_message(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        screenshot_name(INFOHASH, 0, bad)
