"""Dataset sources, splits and transforms (Qt-free).

`load_dataset(settings, progress=None, cancel=None) -> DataBundle` is the entry point; sources are registered
with `register_source(SourceType(...))` (built-ins in `builtins.py`, plugins the same way).
"""

from workbench.core.data.augment import ImageAugment
from workbench.core.data.dataset import DataBundle, DatasetMeta, Split
from workbench.core.data.loader import load_dataset, read_source
from workbench.core.data.raw import RawData
from workbench.core.data.registry import (
    OptionSpec,
    SourceType,
    detect_kind,
    get_source,
    register_source,
    source_types,
)
from workbench.core.data.settings import DatasetSettings, SplitSettings

__all__ = [
    "DataBundle",
    "DatasetMeta",
    "DatasetSettings",
    "ImageAugment",
    "OptionSpec",
    "RawData",
    "SourceType",
    "Split",
    "SplitSettings",
    "detect_kind",
    "get_source",
    "load_dataset",
    "read_source",
    "register_source",
    "source_types",
]
