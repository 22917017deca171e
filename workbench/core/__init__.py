"""Qt-free core: everything the CLI, torchrun and the GUI share. Never import PySide6 or pyqtgraph here."""
