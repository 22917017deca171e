"""One folder per panel. Each exports a `<Name>Panel(session, parent=None)` QWidget and may define
`confirm_close() -> bool` (ask before closing) and `shutdown()` (stop its threads within 2 s).
`python -m workbench.ui.panels.<name>` previews a panel alone on the sample project."""

# (dock object name, title, module, class). The main window builds its docks from this table.
PANELS = (
    ("datasetDock", "Dataset", "workbench.ui.panels.dataset", "DatasetPanel"),
    ("builderDock", "Model builder", "workbench.ui.panels.builder", "BuilderPanel"),
    ("trainingDock", "Training", "workbench.ui.panels.training", "TrainingPanel"),
    ("hardwareDock", "Hardware", "workbench.ui.panels.hardware", "HardwarePanel"),
    ("exportDock", "Export", "workbench.ui.panels.export", "ExportPanel"),
)
