"""Charts with matplotlib's Agg backend (no display needed): line charts, histograms and grouped bars as RGB images,
which the reports place side by side and save as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

_SIZE = (5.6, 3.8)  # inches at _DPI: one panel
_DPI = 100


def _figure():
    # The object-oriented API with an Agg canvas: no pyplot state, no GUI backend, safe in threads and tests.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _image(fig) -> Image.Image:
    fig.canvas.draw()
    return Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str = "",
               ylabel: str = "", log_y: bool = False, markers: bool = False) -> Image.Image:
    """One line per series {label: (xs, ys)}; NaNs (and, on a log axis, values <= 0) are skipped."""
    fig, ax = _figure()
    for name, (xs, ys) in series.items():
        xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        keep = np.isfinite(ys) & ((ys > 0) if log_y else True)
        ax.plot(xs[keep], ys[keep], marker="o" if markers or keep.sum() == 1 else None, markersize=4, label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="best", fontsize="small")
    return _image(fig)


def histogram(samples: dict[str, Sequence[float]], title: str, xlabel: str = "", bins: int = 40,
              marks: dict[str, float] | None = None) -> Image.Image:
    """Overlaid density histograms (outlines) of each sample, with labelled vertical marks {label: x}."""
    fig, ax = _figure()
    values = [np.asarray(v, np.float64) for v in samples.values()]
    present = [v for v in values if len(v)]
    lo = min(float(v.min()) for v in present) if present else 0.0
    hi = max(float(v.max()) for v in present) if present else 1.0
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    for name, v in zip(samples, values):
        if len(v):
            ax.hist(v, edges, density=True, histtype="step", linewidth=1.5, label=f"{name} (n={len(v):,})")
    for k, (name, x) in enumerate((marks or {}).items()):
        ax.axvline(x, color="0.35", linestyle=("--", ":", "-.")[k % 3], linewidth=1, label=f"{name} {x:.3f}")
    ax.set(title=title, xlabel=xlabel, ylabel="density")
    ax.legend(loc="best", fontsize="small")
    return _image(fig)


def bar_chart(groups: Sequence[str], bars: dict[str, Sequence[float]], title: str, ylabel: str = "") -> Image.Image:
    """Grouped bars: one group per name in `groups`, one bar per series in `bars` (values in data units)."""
    fig, ax = _figure()
    fig.set_figwidth(max(_SIZE[0], 0.35 * len(groups) * (len(bars) + 1)))
    x = np.arange(len(groups))
    width = 0.8 / max(1, len(bars))
    for i, (name, values) in enumerate(bars.items()):
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, [str(g) for g in groups], rotation=45 if len(groups) > 6 else 0, ha="right"
                  if len(groups) > 6 else "center", fontsize="small")
    ax.set(title=title, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _image(fig)


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
