"""Long runs keep a bounded amount in memory: the live plots thin their older points past a limit (every point
stays on disk in metrics.jsonl), keeping recent points exactly and old spikes visible."""

from __future__ import annotations

import numpy as np

from workbench.ui.widgets.live_plot import LivePlot, thinning_index


def test_thinning_keeps_block_extremes_and_the_recent_half():
    y = np.array([5, 1, 9, 5, 2, 2, 2, 2, 0, 0, 0, 7, 3, 4, 5], dtype=float)
    index = thinning_index(y, 12)
    assert list(index) == [1, 2, 4, 7, 8, 11, 12, 13, 14]
    assert list(y[index]) == [1, 9, 2, 2, 0, 7, 3, 4, 5]


def test_live_plot_memory_is_bounded_and_spikes_survive(qtbot):
    plot = LivePlot("loss")
    qtbot.addWidget(plot)
    plot.max_points = 1_000
    plot.add_series("loss", "loss", "#1f77b4")
    plot.add_series("loss_smooth", "smoothed", "#ff7f0e", smooth_of="loss")
    rng = np.random.default_rng(0)
    values = 1.0 + 0.1 * rng.random(50_000)
    values[1234] = 50.0  # one spike early in the run
    for step, value in enumerate(values, 1):
        plot.append("loss", step, step / 100, step * 0.01, value)
    raw, smooth = plot.series["loss"], plot.series["loss_smooth"]
    assert 500 <= len(raw) <= 1_000 and len(smooth) == len(raw)
    steps = raw.xs["step"].view
    assert np.all(np.diff(steps) > 0) and steps[-1] == 50_000
    assert 50.0 in raw.y.view  # the spike is still drawn
    assert np.array_equal(raw.y.view[-250:], values[-250:])  # recent points exact
    assert len(raw.y._data) <= 2_048  # the storage itself stays small
    plot.refresh()
