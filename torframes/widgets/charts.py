"""Two small charts drawn with PIL, for notebooks that should not need matplotlib.

:func:`interval_chart` plots each keyframe's interval to the next one
against its time (one coloured series per video); :func:`bar_chart` draws
horizontal bars for a labelled Series. Both return PIL images, which
Jupyter shows inline, and both are deterministic: the same data give the
same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
from PIL import Image, ImageDraw

from torframes.widgets.images import INK, MUTED, WHITE, caption_font

__all__ = ["PALETTE", "bar_chart", "interval_chart", "keyframe_intervals"]

PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
)


def keyframe_intervals(keyframes: pd.DataFrame, end: float | None = None) -> pd.DataFrame:
    """One row per keyframe: its ``time`` and ``interval`` (s) to the next keyframe.

    The last keyframe's interval runs to ``end`` (the track's duration) when
    given, and is NA otherwise.
    """
    times = keyframes["time"].sort_values(kind="stable").reset_index(drop=True)
    following = times.shift(-1)
    if end is not None and len(times):
        following.iloc[-1] = end
    return pd.DataFrame({"time": times, "interval": following - times})


def _nice_step(span: float, target: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def interval_chart(
    series: Mapping[str, pd.DataFrame] | pd.DataFrame,
    *,
    title: str = "keyframe interval",
    width: int = 720,
    height: int = 260,
) -> Image.Image:
    """Keyframe interval (s) against time (s): a step line and a dot per keyframe.

    ``series``: one table of :func:`keyframe_intervals`, or several by name.
    """
    if isinstance(series, pd.DataFrame):
        series = {"": series}
    frames = {name: frame.dropna(subset=["interval"]) for name, frame in series.items()}
    x_max = max(
        (float(f["time"].max() + f["interval"].max()) for f in frames.values() if len(f)),
        default=1.0,
    )
    y_max = max((float(f["interval"].max()) for f in frames.values() if len(f)), default=1.0)
    y_step = _nice_step(y_max * 1.1, 4)
    y_top = y_step * math.ceil(y_max * 1.1 / y_step)
    x_step = _nice_step(x_max, 6)
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    font = caption_font(11)
    left, right, top, bottom = 48, width - 12, 24, height - 40
    draw.text((left, 4), title, fill=INK, font=font)

    def xy(t: float, v: float) -> tuple[float, float]:
        return (left + (right - left) * t / x_max, bottom - (bottom - top) * v / y_top)

    for i in range(int(y_top / y_step) + 1):
        value = i * y_step
        _, y = xy(0, value)
        draw.line((left, y, right, y), fill=(235, 235, 235))
        draw.text((4, y - 6), f"{value:g} s", fill=MUTED, font=font)
    for i in range(int(x_max / x_step) + 1):
        value = i * x_step
        x, _ = xy(value, 0)
        draw.line((x, bottom, x, bottom + 3), fill=INK)
        draw.text((x - 8, bottom + 5), f"{value:g}", fill=MUTED, font=font)
    draw.text(((left + right) // 2 - 20, height - 16), "time (s)", fill=MUTED, font=font)
    draw.line((left, top, left, bottom), fill=INK)
    draw.line((left, bottom, right, bottom), fill=INK)
    legend_x = right
    for k, (name, frame) in enumerate(frames.items()):
        colour = PALETTE[k % len(PALETTE)]
        points: list[tuple[float, float]] = []
        for t, v in zip(frame["time"], frame["interval"], strict=True):
            points += [xy(float(t), float(v)), xy(float(t + v), float(v))]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for t, v in zip(frame["time"], frame["interval"], strict=True):
            x, y = xy(float(t), float(v))
            draw.ellipse((x - 2.5, y - 2.5, x + 2.5, y + 2.5), fill=colour)
        if name:
            legend_x -= int(draw.textlength(name, font=font)) + 24
            draw.rectangle((legend_x, 8, legend_x + 10, 16), fill=colour)
            draw.text((legend_x + 14, 4), name, fill=INK, font=font)
    return image


def bar_chart(
    values: pd.Series,
    *,
    title: str = "",
    unit: str = "",
    fmt: str = "{:,.1f}",
    width: int = 720,
    bar: int = 18,
) -> Image.Image:
    """Horizontal bars, one per entry of ``values`` (labels from its index).

    Each value is printed after its bar as ``fmt`` then ``unit``.
    """
    font = caption_font(11)
    labels = [str(label) for label in values.index]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max((int(measure.textlength(label, font=font)) for label in labels), default=0)
    left = min(label_width + 12, width // 2)
    top = 24 if title else 6
    height = top + len(values) * (bar + 6) + 6
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((6, 4), title, fill=INK, font=font)
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    high = float(numbers.max()) if numbers.notna().any() else 0.0
    span = (width - left - 90) / high if high > 0 else 0.0
    for i, (label, value) in enumerate(zip(labels, numbers, strict=True)):
        y = top + i * (bar + 6)
        draw.text((6, y + 3), label, fill=INK, font=font)
        if pd.isna(value):
            draw.text((left, y + 3), "n/a", fill=MUTED, font=font)
            continue
        length = max(1, round(value * span)) if value > 0 else 0
        draw.rectangle((left, y, left + length, y + bar), fill=PALETTE[0])
        draw.text((left + length + 6, y + 3), fmt.format(value) + unit, fill=INK, font=font)
    return image
