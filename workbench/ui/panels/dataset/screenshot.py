"""Render the Dataset panel offscreen to PNGs for docs/screenshots.

    QT_QPA_PLATFORM=offscreen python -m workbench.ui.panels.dataset.screenshot [OUT_DIR]

Shots: the digits overview at the left dock's size, the split & transforms tab with augmentation shown live,
an image folder with skipped files, and a CSV table.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _wait(app, panel, timeout=60.0) -> None:
    end = time.monotonic() + timeout
    while (panel.loading or panel.bundle is None) and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def main(out: str = "docs/screenshots") -> list[Path]:
    from PySide6.QtWidgets import QApplication

    from workbench.core.data.settings import DatasetSettings
    from workbench.core.data.synthetic import digits_uint8, write_digits_csv, write_image_folder
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.ui.panels.dataset import DatasetPanel
    from workbench.ui.session import ProjectSession

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    session = ProjectSession()
    panel = DatasetPanel(session)
    panel.resize(520, 650)
    panel.show()
    session.open(SAMPLE_PROJECT)
    _wait(app, panel)
    shots = []

    def grab(name: str) -> None:
        for _ in range(10):
            app.processEvents()
        path = out_dir / f"{name}.png"
        panel.grab().save(str(path))
        shots.append(path)

    grab("dataset")
    panel.tabs.setCurrentIndex(1)
    session.update_dataset(
        session.project.dataset.model_copy(update={"options": {"augment_rotation": 25.0, "augment_crop": 1}})
    )
    _wait(app, panel)
    grab("dataset_transforms")
    panel.tabs.setCurrentIndex(0)
    grab("dataset_augmented")
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = digits_uint8()
        root = write_image_folder(
            Path(tmp) / "digits_png", images, labels, classes=range(10), per_class=30, size=(28, 28)
        )
        (root / "digit3" / "notes.txt").write_text("not an image")
        (root / "digit5" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
        session.update_dataset(DatasetSettings(kind="imagefolder", source=str(root)))
        _wait(app, panel)
        panel.tabs.setCurrentIndex(3)
        grab("dataset_skipped")
        panel.tabs.setCurrentIndex(0)
        csv = write_digits_csv(Path(tmp) / "digits.csv", n=400)
        session.update_dataset(DatasetSettings(kind="csv", source=str(csv), target="label"))
        _wait(app, panel)
        grab("dataset_csv")
        from workbench.ui.panels.dataset.new_project import NewFromDataDialog

        dialog = NewFromDataDialog()
        dialog.show()
        dialog.source_form.kind.setCurrentIndex(dialog.source_form.kind.findData("imagefolder"))
        dialog.source_form.path.edit.setText(str(root))
        dialog.source_form.load_button.click()
        end = time.monotonic() + 60
        while (dialog.bundle is None or dialog._thread is not None) and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
        for _ in range(20):
            app.processEvents()
        dialog.grab().save(str(out_dir / "dataset_new_project.png"))
        shots.append(out_dir / "dataset_new_project.png")
        dialog.reject()
    panel.shutdown()
    return shots


if __name__ == "__main__":
    for p in main(*sys.argv[1:]):
        print(p)
