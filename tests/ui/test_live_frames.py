"""The live view's clock: a job's events reach the GUI in order, none dropped, at most 30 times a second
however fast they come; the producer never waits for the GUI (not even while the GUI thread is busy); every
plot of the Curves tab takes its new points in the same frame; auto-ranges hold still while the data fits."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from workbench.ui.jobs import FRAME_MS, ThreadJob
from workbench.ui.widgets.live_plot import LivePlot, ema_filter, steady_range


def test_events_arrive_in_order_at_most_30_times_a_second_and_the_producer_never_waits(qtbot):
    produced = []

    def fast():
        for i in range(40_000):
            produced.append(time.perf_counter())
            yield i

    job = ThreadJob("test", fast, interval_ms=FRAME_MS)
    deliveries: list[list] = []
    job.sig_events.connect(deliveries.append)
    start = time.perf_counter()
    job.start()
    with qtbot.waitSignal(job.sig_done, timeout=30_000):
        time.sleep(0.3)  # the GUI thread busy: the generator goes on regardless
    elapsed = time.perf_counter() - start
    assert [e for batch in deliveries for e in batch] == list(range(40_000))
    assert len(deliveries) <= elapsed * 1000 / FRAME_MS + 2
    produced_during_busy = sum(1 for t in produced if t < start + 0.3)
    assert produced_during_busy > 1000


def test_a_slow_event_is_shown_on_the_next_frame(qtbot):
    def slow():
        yield "first"
        time.sleep(1.0)
        yield "second"

    job = ThreadJob("test", slow, interval_ms=FRAME_MS)
    arrived = []
    job.sig_events.connect(lambda events: arrived.extend((e, time.perf_counter()) for e in events))
    start = time.perf_counter()
    job.start()
    qtbot.waitUntil(lambda: bool(arrived), timeout=5000)
    assert arrived[0][0] == "first" and arrived[0][1] - start < 0.5
    with qtbot.waitSignal(job.sig_done, timeout=5000):
        pass


def test_the_curves_take_all_their_new_points_in_one_frame(qtbot):
    from workbench.core.training.events import BatchEnd, BatchEnds, EpochEnd
    from workbench.ui.panels.training.curves import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    now = time.time()
    batches = [
        BatchEnd(
            step=i,
            epoch=1,
            batch=i,
            batches=20,
            loss=2.0 / i,
            lr=1e-3,
            time=now + i * 0.01,
            elapsed=i * 0.01,
            samples_per_second=1000.0,
        )
        for i in range(1, 21)
    ]
    view.add_points(
        [BatchEnds.of(batches)],
        [
            EpochEnd(
                epoch=1,
                step=20,
                train_loss=1.0,
                train_accuracy=0.5,
                val_loss=1.1,
                val_accuracy=0.45,
                lr=1e-3,
                time=now + 0.2,
                elapsed=0.2,
            )
        ],
        now,
    )
    view.refresh()
    assert not [plot for plot in view.all_plots if plot.has_new_points()]


def test_ema_filter_matches_the_recursion():
    rng = np.random.default_rng(0)
    for weight in (0.0, 0.01, 0.6, 0.99, 0.999):
        x = rng.normal(size=300) * 5 + 1
        expected, state = [], 2.5
        for value in x:
            state = weight * state + (1 - weight) * value
            expected.append(state)
        assert np.allclose(ema_filter(x, weight, 2.5), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("current", "data", "expected"),
    [
        ((0.0, 3.0), (0.5, 2.5), (0.0, 3.0)),  # fits and fills 2/3: unchanged
        ((1.0, 3.0), (0.5, 2.5), (0.0, 2.54)),  # grew below: headroom, clamped at zero for data >= 0
        ((1.0, 3.0), (1.5, 3.5), (1.46, 4.0)),  # grew above: a quarter of the span of headroom there
        ((-10.0, 10.0), (1.0, 2.0), (0.75, 2.25)),  # fills 5%: shrinks around the data
        ((0.0, 1.0), (-2.0, -1.0), (-2.25, -0.98)),  # negative data is not clamped
    ],
)
def test_steady_range(current, data, expected):
    assert steady_range(current, data) == pytest.approx(expected)


def test_a_live_curve_rescales_now_and_then_not_every_frame(qtbot):
    from PySide6.QtWidgets import QApplication

    plot = LivePlot("loss")
    qtbot.addWidget(plot)
    plot.add_series("loss", "loss", "#000")
    plot.resize(600, 300)
    plot.show()
    rng = np.random.default_rng(0)
    ranges = []
    for frame in range(60):  # a falling, noisy loss: 20 points a frame
        steps = np.arange(frame * 20, frame * 20 + 20)
        loss = 2.3 * np.exp(-steps / 300) + 0.1 * rng.random(20)
        plot.extend("loss", steps, steps / 100, steps * 0.01, loss)
        plot.refresh()
        QApplication.processEvents()
        ranges.append(tuple(plot.getPlotItem().viewRange()[1]))
    changes = sum(a != b for a, b in itertools.pairwise(ranges))
    assert changes <= 8, ranges  # pyqtgraph's own auto-range changes on every frame
    low, high = ranges[-1]
    assert low == 0.0 and high >= 2.3  # settled on a range from zero that holds the curve


def test_points_added_a_frame_at_a_time_smooth_as_one_series(qtbot):
    from workbench.ui.widgets.live_plot import debiased_ema

    plot = LivePlot("t")
    qtbot.addWidget(plot)
    plot.add_series("loss", "loss", "k")
    plot.add_series("smooth", "smoothed", "b", smooth_of="loss")
    values = np.random.default_rng(1).random(300)
    values[[17, 150]] = np.nan  # a non-finite loss passes through, the average goes on
    for chunk in np.array_split(np.arange(300), 7):
        plot.extend("loss", chunk, chunk / 10, chunk * 0.1, values[chunk])
    assert np.allclose(plot.series["smooth"].y.view, debiased_ema(values, 0.6), equal_nan=True)
    assert np.isnan(plot.series["smooth"].y.view[150])


def test_a_secondary_plot_takes_new_points_at_most_twice_a_second_and_all_of_them_at_the_end(qtbot):
    plot = LivePlot("lr")
    qtbot.addWidget(plot)
    plot.add_series("lr", "lr", "#000")
    plot.min_refresh_s = 0.5
    pushed = []
    plot.series["lr"].curve.sigPlotChanged.connect(lambda item: pushed.append(len(item.xData)))
    for i in range(10):  # ten frames within a few milliseconds
        plot.append("lr", i, 0, i, 0.1)
        plot.refresh()
    assert pushed == [1]  # the first frame, then nothing until 0.5 s have passed
    plot.refresh(force=True)  # the run's last frame
    assert pushed == [1, 10]


def test_skip_finite_check_only_while_every_point_is_finite(qtbot):
    plot = LivePlot("loss")
    qtbot.addWidget(plot)
    plot.add_series("loss", "loss", "#000")
    plot.add_series("smooth", "smoothed", "#00f", smooth_of="loss")
    plot.extend("loss", [1, 2], [0, 0], [0, 0], [1.0, 0.5])
    plot.refresh()
    assert (
        plot.series["loss"].curve.opts["skipFiniteCheck"]
        and plot.series["smooth"].curve.opts["skipFiniteCheck"]
    )
    plot.extend("loss", [3], [0], [0], [float("nan")])  # a diverged step
    plot.refresh()
    assert not plot.series["loss"].curve.opts["skipFiniteCheck"]
    assert not plot.series["smooth"].curve.opts["skipFiniteCheck"]
    plot.clear_data()
    assert plot.series["loss"].finite


def test_a_one_step_loss_spike_stays_visible_after_decimation(qtbot):
    """100k batch losses on a plot a few hundred pixels wide: the curve draws at most a (min, max) pair per pixel
    column, and the single spike is among the drawn points, before and after zooming in."""
    plot = LivePlot("Batch loss")
    qtbot.addWidget(plot)
    plot.resize(600, 300)
    plot.show()
    qtbot.waitExposed(plot)
    plot.add_series("loss", "loss", "k")
    n = 100_000
    steps = np.arange(1, n + 1, dtype=np.float64)
    loss = 1.0 + 0.01 * np.sin(steps / 50.0)
    loss[61_234] = 40.0  # one step
    plot.extend("loss", steps, steps / 1000, steps / 100, loss)
    plot.refresh()
    curve = plot.series["loss"].curve
    width = plot.getPlotItem().vb.width()
    assert 100 < width < 600
    assert len(curve.yData) <= 2 * width + 4
    assert curve.yData.max() == 40.0 and curve.yData.min() == loss.min()
    plot.setXRange(60_000, 63_000, padding=0)  # zoomed in: binned again over what is visible
    qtbot.waitUntil(lambda: curve.xData[0] >= 59_000)
    assert curve.yData.max() == 40.0
    assert curve.xData[-1] <= 63_100 and len(curve.yData) <= 2 * width + 4
    plot.setXRange(0, 30_000, padding=0)  # the spike outside the view: not drawn
    qtbot.waitUntil(lambda: curve.xData[-1] <= 31_000)
    assert curve.yData.max() < 2.0
