"""SplitTransformForm: split percentages + seed, and (for images) colour, resize, normalization, augmentation."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QSpinBox, QVBoxLayout, QWidget

from workbench.core.data.builtins import IMAGE_OPTIONS
from workbench.core.data.settings import SplitSettings
from workbench.ui.panels.dataset.options_form import OptionsForm

AUGMENT_KEYS = ("augment_flip", "augment_crop", "augment_rotation")


def _percent(maximum: int) -> QSpinBox:
    w = QSpinBox()
    w.setRange(0, maximum)
    w.setSuffix(" %")
    return w


class SplitTransformForm(QWidget):
    sig_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        split_box = QGroupBox("Split (stratified by class)")
        form = QFormLayout(split_box)
        self.train_label = QLabel()
        self.train_label.setObjectName("datasetTrainPercent")
        self.val = _percent(90)
        self.val.setObjectName("datasetValPercent")
        self.test = _percent(90)
        self.test.setObjectName("datasetTestPercent")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setObjectName("datasetSeed")
        self.seed.setToolTip("the same seed always gives the same split")
        form.addRow("Train", self.train_label)
        form.addRow("Validation", self.val)
        form.addRow("Test", self.test)
        form.addRow("Seed", self.seed)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        form.addRow(self.note)
        self.transforms_box = QGroupBox("Image transforms")
        self.transforms = OptionsForm(tuple(o for o in IMAGE_OPTIONS if o.name not in AUGMENT_KEYS))
        QVBoxLayout(self.transforms_box).addWidget(self.transforms)
        self.augment_box = QGroupBox("Augmentation (training batches; previewed live)")
        self.augment = OptionsForm(tuple(o for o in IMAGE_OPTIONS if o.name in AUGMENT_KEYS))
        QVBoxLayout(self.augment_box).addWidget(self.augment)
        lay.addWidget(split_box)
        lay.addWidget(self.transforms_box)
        lay.addWidget(self.augment_box)
        lay.addStretch(1)
        for w in (self.val, self.test, self.seed):
            w.valueChanged.connect(self._on_split_edited)
        self.transforms.sig_changed.connect(self.sig_changed)
        self.augment.sig_changed.connect(self.sig_changed)
        self._update_train()

    def set_images(self, images: bool) -> None:
        self.transforms_box.setVisible(images)
        self.augment_box.setVisible(images)

    def set_settings(self, settings) -> None:
        with QSignalBlocker(self.val), QSignalBlocker(self.test), QSignalBlocker(self.seed):
            self.val.setValue(round(settings.split.val * 100))
            self.test.setValue(round(settings.split.test * 100))
            self.seed.setValue(settings.split.seed)
        self.transforms.set_values(settings.options)
        self.augment.set_values(settings.options)
        self._update_train()

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _update_train(self) -> None:
        train = 100 - self.val.value() - self.test.value()
        self.train_label.setText(f"{train} %" if train > 0 else "0 % (lower validation or test)")
        self.val.setMaximum(max(0, 95 - self.test.value()))
        self.test.setMaximum(max(0, 95 - self.val.value()))

    def _on_split_edited(self) -> None:
        self._update_train()
        self.sig_changed.emit()

    def split(self) -> SplitSettings:
        val, test = self.val.value() / 100, self.test.value() / 100
        return SplitSettings(train=round(1 - val - test, 6), val=val, test=test, seed=self.seed.value())

    def option_values(self) -> dict:
        return {**self.transforms.values(), **self.augment.values()}
