"""Frames: the worker holds its generator while the GUI takes in events and paints; plots paint inside the
frame (not on a later pass of the event loop, when the trainer would contend for the GIL); auto-ranges hold
still while the data fits."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from workbench.ui.widgets.live_plot import LivePlot, paint_pending, steady_range
from workbench.ui.workers import FRAME_CREDIT_S, GeneratorWorker


def counting(n: int, produced: list, gate: threading.Event | None = None):
    for i in range(n):
        if gate is not None and i == n // 2:
            gate.wait(5)                  # blocked half way (as a paused trainer is)
        produced.append(i)
        yield i
        time.sleep(0.0005)


def test_the_generator_waits_while_a_frame_runs(qtbot):
    produced: list = []
    received: list = []
    advanced_during_frame = []

    worker = GeneratorWorker(lambda: counting(400, produced), "wb-test", frame_budget=0.5)

    def on_events(events):
        before = len(produced)
        time.sleep(0.01)                  # a frame's work; the generator must not move meanwhile
        advanced_during_frame.append(len(produced) - before)
        received.extend(events)

    worker.sig_events.connect(on_events)
    with qtbot.waitSignal(worker.sig_done, timeout=20000) as done:
        worker.start()
    worker.wait(2000)
    assert done.args == [None]
    assert received == list(range(400))          # every event, in order
    assert worker.frames >= 2
    # the generator stood still during every frame
    assert set(advanced_during_frame) == {0}


def test_a_blocked_generator_still_delivers_its_events(qtbot):
    """A paused trainer never reaches the next event: what it sent before pausing arrives anyway."""
    produced: list = []
    received: list = []
    gate = threading.Event()
    worker = GeneratorWorker(lambda: counting(20, produced, gate), "wb-test", frame_budget=0.5)
    worker.sig_events.connect(received.extend)
    worker.start()
    qtbot.waitUntil(lambda: received == list(range(10)), timeout=5000)
    gate.set()
    qtbot.waitUntil(lambda: received == list(range(20)), timeout=5000)
    worker.wait(2000)


def test_frames_keep_to_their_budget(qtbot):
    """A costly frame (20 ms) at a 5% budget: the frames' total stays within 5% of the time plus the credit."""
    produced: list = []
    worker = GeneratorWorker(lambda: counting(3000, produced), "wb-test", frame_budget=0.05)
    worker.sig_events.connect(lambda events: time.sleep(0.02))
    start = time.perf_counter()
    with qtbot.waitSignal(worker.sig_done, timeout=30000):
        worker.start()
    elapsed = time.perf_counter() - start
    worker.wait(2000)
    assert worker.frames >= 2
    assert worker.frame_seconds <= 0.05 * elapsed + FRAME_CREDIT_S + 0.03   # one frame of slack


@pytest.mark.parametrize(("current", "data", "expected"), [
    ((0.0, 3.0), (0.5, 2.5), (0.0, 3.0)),            # fits and fills 2/3: unchanged
    ((1.0, 3.0), (0.5, 2.5), (0.0, 2.54)),           # grew below: headroom, clamped at zero for data >= 0
    ((1.0, 3.0), (1.5, 3.5), (1.46, 4.0)),           # grew above: a quarter of the span of headroom there
    ((-10.0, 10.0), (1.0, 2.0), (0.75, 2.25)),       # fills 5%: shrinks around the data
    ((0.0, 1.0), (-2.0, -1.0), (-2.25, -0.98)),      # negative data is not clamped
])
def test_steady_range(current, data, expected):
    assert steady_range(current, data) == pytest.approx(expected)


def test_a_live_curve_rescales_now_and_then_not_every_frame(qtbot):
    plot = LivePlot("loss")
    qtbot.addWidget(plot)
    plot.add_series("loss", "loss", "#000")
    plot.resize(600, 300)
    plot.show()
    rng = np.random.default_rng(0)
    ranges = []
    for frame in range(60):          # a falling, noisy loss: 20 points a frame
        steps = np.arange(frame * 20, frame * 20 + 20)
        loss = 2.3 * np.exp(-steps / 300) + 0.1 * rng.random(20)
        plot.extend("loss", steps, steps / 100, steps * 0.01, loss)
        plot.refresh()
        paint_pending([plot])
        ranges.append(tuple(plot.getPlotItem().viewRange()[1]))
    changes = sum(a != b for a, b in zip(ranges, ranges[1:], strict=False))
    assert changes <= 8, ranges                     # pyqtgraph's own auto-range changes on every frame
    low, high = ranges[-1]
    assert low == 0.0 and high >= 2.3               # settled on a range from zero that holds the curve


def test_paint_pending_paints_within_the_frame(qtbot):
    """After refresh() + paint_pending() nothing is left for a later pass of the event loop to paint."""
    from PySide6.QtWidgets import QApplication

    plot = LivePlot("loss")
    qtbot.addWidget(plot)
    plot.add_series("loss", "loss", "#000")
    plot.resize(600, 300)
    with qtbot.waitExposed(plot):
        plot.show()
    for _ in range(5):
        QApplication.processEvents()
    for frame in range(5):
        plot.extend("loss", [frame], [frame], [frame], [1.0 / (frame + 1)])
        plot.refresh()
        before = LivePlot.paint_seconds
        paint_pending([plot])
        assert LivePlot.paint_seconds > before           # painted now
        after = LivePlot.paint_seconds
        for _ in range(5):
            QApplication.processEvents()
        assert LivePlot.paint_seconds == after           # and not again later


def test_points_added_a_frame_at_a_time_smooth_as_one_series(qtbot):
    from workbench.ui.widgets.live_plot import debiased_ema

    plot = LivePlot("t")
    qtbot.addWidget(plot)
    plot.add_series("loss", "loss", "k")
    plot.add_series("smooth", "smoothed", "b", smooth_of="loss")
    values = np.random.default_rng(1).random(300)
    values[[17, 150]] = np.nan                       # a non-finite loss passes through, the average goes on
    for chunk in np.array_split(np.arange(300), 7):
        plot.extend("loss", chunk, chunk / 10, chunk * 0.1, values[chunk])
    assert np.allclose(plot.series["smooth"].y.view, debiased_ema(values, 0.6), equal_nan=True)
    assert np.isnan(plot.series["smooth"].y.view[150])
