"""Charts drawn with PIL (no plotting dependency): line charts, histograms and grouped bars, as RGB images."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

COLOURS = ((200, 60, 40), (40, 90, 200), (30, 140, 60), (150, 60, 170), (220, 140, 20), (90, 90, 90))
_W, _H, _PAD = 560, 380, 56


class _Axes:
    """A framed plot area mapping data coordinates to pixels, with ticks, labels and a legend."""

    def __init__(self, title: str, xlabel: str, ylabel: str, xlim: tuple[float, float], ylim: tuple[float, float],
                 log_y: bool = False, xticks: bool = True) -> None:
        self.img = Image.new("RGB", (_W, _H), "white")
        self.draw = ImageDraw.Draw(self.img)
        self.log_y = log_y
        self.x0, self.x1 = _spread(*xlim)
        self.y0, self.y1 = _spread(*(np.log10(ylim) if log_y else ylim))
        self.draw.rectangle([_PAD, _PAD, _W - _PAD // 2, _H - _PAD], outline="black")
        self.draw.text((_PAD, 12), title, fill="black")
        self.draw.text((_W // 2 - 4 * len(xlabel) // 2, _H - 18), xlabel, fill="black")
        self.draw.text((4, 32), ylabel, fill="black")
        for v in np.linspace(self.x0, self.x1, 5) if xticks else ():
            self.draw.text((self.at(v, self.y0, raw=True)[0] - 12, _H - _PAD + 6), _fmt(v), fill="black")
        for v in np.linspace(self.y0, self.y1, 6):
            label = _fmt(10 ** v) if log_y else _fmt(v)
            self.draw.text((4, self.at(self.x0, v, raw=True)[1] - 6), label, fill="black")
        self.legend = 0

    def at(self, x: float, y: float, raw: bool = False) -> tuple[float, float]:
        if self.log_y and not raw:
            y = math.log10(max(y, 1e-12))
        px = _PAD + (x - self.x0) / (self.x1 - self.x0) * (_W - 1.5 * _PAD)
        py = _H - _PAD - (y - self.y0) / (self.y1 - self.y0) * (_H - 2 * _PAD)
        return px, py

    def label(self, text: str, colour) -> None:
        self.draw.text((_PAD + 8, _PAD + 6 + 14 * self.legend), text, fill=colour)
        self.legend += 1


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str = "",
               ylabel: str = "", log_y: bool = False, markers: bool = False) -> Image.Image:
    """One line per series {label: (xs, ys)}; NaNs are skipped."""
    pts = {k: [(float(x), float(y)) for x, y in zip(*v) if np.isfinite(y) and (y > 0 or not log_y)]
           for k, v in series.items()}
    xs = [x for p in pts.values() for x, _ in p] or [0.0, 1.0]
    ys = [y for p in pts.values() for _, y in p] or [1.0, 2.0]
    ax = _Axes(title, xlabel, ylabel, (min(xs), max(xs)), (min(ys), max(ys)), log_y)
    for i, (name, p) in enumerate(pts.items()):
        colour = COLOURS[i % len(COLOURS)]
        if len(p) > 1:
            ax.draw.line([ax.at(x, y) for x, y in p], fill=colour, width=2)
        if markers or len(p) == 1:
            for x, y in p:
                cx, cy = ax.at(x, y)
                ax.draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=colour)
        ax.label(name, colour)
    return ax.img


def histogram(samples: dict[str, Sequence[float]], title: str, xlabel: str = "", bins: int = 40,
              marks: dict[str, float] | None = None) -> Image.Image:
    """Overlaid density histograms (as outlines) of each sample, with vertical marks {label: x}."""
    values = [np.asarray(v, np.float64) for v in samples.values()]
    lo = min(float(v.min()) for v in values if len(v))
    hi = max(float(v.max()) for v in values if len(v))
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    dens = [np.histogram(v, edges, density=True)[0] for v in values]
    ax = _Axes(title, xlabel, "density", (edges[0], edges[-1]), (0.0, max(float(d.max()) for d in dens)))
    for i, (name, d) in enumerate(zip(samples, dens)):
        colour = COLOURS[i % len(COLOURS)]
        steps = [p for j, h in enumerate(d) for p in (ax.at(edges[j], h), ax.at(edges[j + 1], h))]
        ax.draw.line(steps, fill=colour, width=2)
        ax.label(f"{name} (n={len(values[i])})", colour)
    for name, x in (marks or {}).items():
        px = ax.at(x, 0)[0]
        ax.draw.line([px, _PAD, px, _H - _PAD], fill=(120, 120, 120), width=1)
        ax.draw.text((px + 3, _PAD + 4), name, fill=(90, 90, 90))
    return ax.img


def bar_chart(groups: Sequence[str], bars: dict[str, Sequence[float]], title: str, ylabel: str = "") -> Image.Image:
    """Grouped bars: one group per name in `groups`, one bar per series in `bars` (values in data units)."""
    top = max(max(v) for v in bars.values())
    width = max(_W, 40 + 14 * len(groups) * (len(bars) + 1))
    ax = _Axes(title, "", ylabel, (0.0, 1.0), (0.0, top if top > 0 else 1.0), xticks=False)
    if width > _W:  # many groups: widen the canvas, keep the frame's left edge
        wide = Image.new("RGB", (width, _H), "white")
        wide.paste(ax.img, (0, 0))
        ax.img, ax.draw = wide, ImageDraw.Draw(wide)
        ax.draw.rectangle([_PAD, _PAD, width - _PAD // 2, _H - _PAD], outline="black")
    span = (width - 1.5 * _PAD) / len(groups)
    bar = span / (len(bars) + 1)
    for g, name in enumerate(groups):
        x = _PAD + g * span
        for i, (series, values) in enumerate(bars.items()):
            y = ax.at(0, values[g])[1]
            ax.draw.rectangle([x + i * bar, y, x + (i + 1) * bar - 1, _H - _PAD], fill=COLOURS[i % len(COLOURS)])
        ax.draw.text((x, _H - _PAD + 6 + 10 * (g % 3)), name[:14], fill="black")
    for i, series in enumerate(bars):
        ax.label(series, COLOURS[i % len(COLOURS)])
    return ax.img


def side_by_side(images: Sequence[Image.Image]) -> Image.Image:
    """Panels in one row, top-aligned."""
    out = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)), "white")
    x = 0
    for img in images:
        out.paste(img, (x, 0))
        x += img.width
    return out


def save(img: Image.Image, path: str | Path) -> None:
    from facegen.images import save_png

    save_png(Path(path), np.asarray(img))


def _spread(lo: float, hi: float) -> tuple[float, float]:
    if hi <= lo:
        return lo - 0.5, hi + 0.5
    margin = 0.04 * (hi - lo)
    return lo - margin, hi + margin


def _fmt(v: float) -> str:
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 0.1 or a == 0 else f"{v:.0e}"
