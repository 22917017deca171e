"""The memory plan in the GUI (ui/memory.py): traced by the trainer-process job "memory", shown in the training
settings with one-click fixes when it will not fit; each fix changes the settings and so the plan."""

from __future__ import annotations

import pytest

from workbench.core.hardware.fit import needed_bytes, plan_on
from workbench.core.paths import SAMPLE_PROJECT
from workbench.ui.panels.training.settings_form import TrainingSettingsForm
from workbench.ui.session import ProjectSession


@pytest.fixture
def form(qtbot):
    session = ProjectSession()
    session.open(SAMPLE_PROJECT)
    widget = TrainingSettingsForm(session)
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


def publish(session, available, device="cuda:0"):
    """What the job sends back, computed here (the job itself: test_the_trainer_process_traces_the_plan)."""
    plan = plan_on(session.project.model, session.project.training, device, available, "test GPU")
    session.memory.publish(plan, None)
    return plan


def test_too_big_a_batch_offers_the_fixes_and_each_changes_the_settings(form):
    session = form.session
    session.set_device("cuda:0")
    session.update_training(session.project.training.model_copy(update={"batch_size": 1024}))
    at_256 = plan_on(
        session.project.model, session.project.training.model_copy(update={"batch_size": 256}), "cuda:0", None
    )
    plan = publish(session, needed_bytes(at_256.peak_bytes, "cuda:0"))
    assert plan.fits is False and 240 <= plan.max_batch_size <= 270
    box = form.memory_box
    assert "⚠" in box.label.text() and "Training needs about" in box.label.text()
    buttons = box.buttons
    assert all(b.isVisible() for b in buttons.values())
    steps = -(-1024 // plan.max_batch_size)
    assert buttons["accumulate"].text() == f"Batch {plan.max_batch_size} × {steps} steps"
    buttons["accumulate"].click()
    config = session.project.training
    assert config.batch_size == plan.max_batch_size and config.grad_accumulation_steps == steps
    assert form.w["grad_accumulation_steps"].value() == steps  # the form shows it
    buttons["amp"].click()
    buttons["checkpointing"].click()
    config = session.project.training
    assert config.precision == "bf16" and config.activation_checkpointing
    assert form.w["activation_checkpointing"].isChecked()
    fixed = publish(session, needed_bytes(at_256.peak_bytes, "cuda:0"))
    assert fixed.fits is True and fixed.peak_bytes < at_256.peak_bytes  # bf16 + checkpointing: smaller
    assert "fits: needs" in box.label.text() and not any(b.isVisible() for b in buttons.values())


def test_the_form_edits_the_memory_options(form, qtbot):
    form.w["grad_accumulation_steps"].setValue(4)
    form.w["activation_checkpointing"].setChecked(True)
    config = form.session.project.training
    assert config.grad_accumulation_steps == 4 and config.activation_checkpointing is True


@pytest.mark.slow
def test_the_trainer_process_traces_the_plan(form, qtbot):
    session = form.session
    session.jobs.warm_up()
    with qtbot.waitSignal(session.memory.sig_plan, timeout=90_000) as blocker:
        pass  # the process's Ready requests a plan
    plan = blocker.args[0]
    assert plan is not None and plan.estimate.method == "traced" and plan.device == "cpu"
    assert plan.estimate.batch_size == session.project.training.batch_size
    with qtbot.waitSignal(session.memory.sig_plan, timeout=60_000) as blocker:
        session.update_training(session.project.training.model_copy(update={"batch_size": 256}))
    assert blocker.args[0].estimate.batch_size == 256
    assert "peak" in form.memory_box.label.text()
    session.jobs.shutdown()


def test_the_badge_beside_start_warns_and_opens_the_settings(qtbot):
    from workbench.ui.panels.training.panel import TrainingPanel

    session = ProjectSession()
    session.open(SAMPLE_PROJECT)
    panel = TrainingPanel(session)
    qtbot.addWidget(panel)
    panel.show()
    badge = panel.fit_badge
    assert not badge.isVisible()  # nothing planned
    session.set_device("cuda:0")
    publish(session, 1_000)
    assert badge.isVisible() and "will not fit cuda:0" in badge.text()
    badge.linkActivated.emit("settings")
    assert panel.tabs.currentWidget() is panel.settings
    publish(session, 80 * 10**9)
    assert not badge.isVisible()
