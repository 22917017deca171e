"""Min/max decimation keeps every outlier (issue 26): a one-step spike survives 100k points -> 1,000 columns."""

import numpy as np

from workbench.ui.widgets.decimate import minmax_columns, visible_slice


def test_a_single_step_spike_survives_downsampling():
    rng = np.random.default_rng(0)
    x = np.arange(100_000, dtype=float)
    y = 1.0 + 0.01 * rng.standard_normal(100_000)
    y[61_803] = 50.0  # one step out of 100k
    y[12_345] = -7.0
    xs, ys = minmax_columns(x, y, 1000)
    assert len(xs) <= 2000
    assert ys.max() == 50.0 and ys.min() == -7.0
    spike_x = xs[np.argmax(ys)]
    assert abs(spike_x - 61_803) <= 100  # drawn within its own pixel column (100 steps per column)


def test_nan_is_ignored_and_short_series_pass_through():
    x = np.arange(10, dtype=float)
    y = np.arange(10, dtype=float)
    xs, ys = minmax_columns(x, y, 1000)
    assert np.array_equal(xs, x) and np.array_equal(ys, y)
    y = np.linspace(0, 1, 10_000)
    y[5000:5100] = np.nan
    xs, ys = minmax_columns(np.arange(10_000.0), y, 100)
    assert np.nanmax(ys) == 1.0 and np.nanmin(ys) == 0.0
    assert np.isfinite(ys).sum() >= len(ys) - 2


def test_only_the_visible_range_plus_one_point_each_side():
    x = np.arange(1000, dtype=float)
    cut = visible_slice(x, (100.5, 200.5))
    assert (cut.start, cut.stop) == (100, 202)
    xs, ys = minmax_columns(x, x * 2, 10, x_range=(100.5, 200.5))
    assert xs[0] == 100 and xs[-1] <= 201 and len(xs) <= 20
