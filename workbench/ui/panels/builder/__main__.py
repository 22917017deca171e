"""`python -m workbench.ui.panels.builder [PROJECT]`: the builder alone on the sample project.
`--screenshots DIR` renders it (valid, invalid, residual) to PNGs offscreen instead."""

import sys


def screenshots(folder: str) -> None:
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from workbench.core.model.templates import make_template
    from workbench.core.paths import SAMPLE_PROJECT
    from workbench.ui.panels.builder import BuilderPanel
    from workbench.ui.session import ProjectSession

    app = QApplication.instance() or QApplication(sys.argv[:1])
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    session = ProjectSession()
    panel = BuilderPanel(session)
    session.open(SAMPLE_PROJECT)
    panel.resize(520, 650)
    panel.show()

    def shot(name, select):
        panel.layer_list.setCurrentItem(panel.layer_list.item_for(select))
        for _ in range(10):
            app.processEvents()
        panel.grab().save(str(out / name))
        print(out / name)

    shot("builder.png", (6,))
    panel.selected = (5,)
    panel.delete_selected()  # drop Flatten: Linear cannot take 32x4x4
    shot("builder_invalid.png", (0,))
    session.update_model(make_template("small_resnet", [1, 8, 8], 10))
    session.set_device("cuda:0")
    session.set_gpu_free({"cuda:0": 2_000_000})
    panel.resize(740, 650)
    shot("builder_residual.png", (3, 0))
    panel.shutdown()


if "--screenshots" in sys.argv:
    screenshots(sys.argv[sys.argv.index("--screenshots") + 1])
else:
    from workbench.ui.panels.builder import BuilderPanel
    from workbench.ui.preview import preview

    sys.exit(preview(BuilderPanel, size=(560, 720)))
