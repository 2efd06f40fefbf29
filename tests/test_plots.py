"""Charts: matplotlib (Agg) images of the expected size, with something drawn on them."""

import numpy as np

from facegen import plots


def test_charts_are_images_with_marks_on_them(tmp_path):
    rng = np.random.default_rng(0)
    hist = plots.histogram({"same": rng.normal(0.6, 0.1, 300), "different": rng.normal(0, 0.1, 3000)}, "pairs",
                           "cosine", marks={"FAR 0.001": 0.31})
    bars = plots.bar_chart([f"attr{i}" for i in range(12)], {"accuracy": rng.random(12), "baseline": rng.random(12)},
                           "attributes")
    lines = plots.line_chart({"real": ([1, 2, 3], [0.8, np.nan, 0.9])}, "verification", log_y=True, markers=True)
    for img in (hist, bars, lines):
        a = np.asarray(img)
        assert a.ndim == 3 and a.shape[2] == 3 and a.shape[0] >= 300 and (a < 200).any() and (a == 255).any()
    assert bars.width > hist.width  # many groups widen the chart instead of crowding the labels
    side = plots.side_by_side([hist, lines])
    assert side.size == (hist.width + lines.width, max(hist.height, lines.height))
    plots.save(side, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
