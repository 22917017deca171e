"""The built-in data sources, registered through the same `register_source` plugins use."""

from __future__ import annotations

from workbench.core.data.digits import is_digits, load_digits_source
from workbench.core.data.imagefolder import load_imagefolder, looks_like_imagefolder
from workbench.core.data.npz import is_npz, load_npz, read_npz_headers
from workbench.core.data.registry import OptionSpec, SourceType, register_source
from workbench.core.data.tabular import is_csv, load_csv
from workbench.core.data.textfile import is_textfile, load_textfile
from workbench.core.data.tvsets import (
    load_cifar10,
    load_fashionmnist,
    load_mnist,
    looks_like_cifar,
    looks_like_mnist,
)

IMAGE_OPTIONS = (
    OptionSpec(
        "color",
        "Colour",
        "auto",
        choices=("auto", "grayscale", "rgb"),
        help="auto keeps the images' own mode; grayscale = 1 channel, rgb = 3 channels",
    ),
    OptionSpec("resize", "Resize to", "", help="e.g. 28 or 32x32 (height x width); empty keeps the size"),
    OptionSpec("normalize", "Normalize", True, help="subtract the train split's mean, divide by its std"),
    OptionSpec("augment_flip", "Random flip", False, help="random horizontal flip of training batches"),
    OptionSpec(
        "augment_crop",
        "Random crop (px)",
        0,
        minimum=0,
        maximum=64,
        help="shift training images by up to this many pixels (pad + random crop)",
    ),
    OptionSpec(
        "augment_rotation",
        "Random rotation (deg)",
        0.0,
        minimum=0,
        maximum=180,
        help="rotate training images by up to +- this many degrees",
    ),
)
OFFICIAL_TEST = OptionSpec(
    "official_test",
    "Use the official test set",
    True,
    help="the official test files become the test split; train/val share the rest",
)
CSV_OPTIONS = (
    OptionSpec(
        "missing",
        "Missing values",
        "drop",
        choices=("drop", "impute"),
        help="drop rows with a missing value, or fill with the train mean / most frequent value",
    ),
    OptionSpec(
        "categorical",
        "Text columns",
        "onehot",
        choices=("onehot", "refuse"),
        help="one-hot encode non-numeric feature columns, or refuse them",
    ),
    OptionSpec(
        "task",
        "Task",
        "auto",
        choices=("auto", "classification", "regression"),
        help="auto: continuous numbers -> regression, otherwise classification",
    ),
    OptionSpec("delimiter", "Delimiter", "auto", choices=("auto", ",", ";", "\\t", "|")),
    OptionSpec("encoding", "Encoding", "auto", choices=("auto", "utf-8", "cp1252", "latin-1", "utf-16")),
    OptionSpec(
        "normalize", "Standardize features", True, help="subtract the train mean, divide by the train std"
    ),
    OptionSpec(
        "text_column", "Text column", "", help="a column of free text: tokenized for Embedding models"
    ),
    OptionSpec(
        "tokenizer",
        "Tokenizer",
        "words",
        choices=("words", "chars", "bpe"),
        choice_labels=("words", "characters", "subwords (BPE)"),
        help="words: lower-cased words; chars: characters; bpe: subwords (byte-level BPE) trained on the train "
        "split, kept with the run as tokenizer.json",
    ),
    OptionSpec(
        "vocab_size",
        "Vocabulary size",
        10000,
        minimum=3,
        maximum=1_000_000,
        help="most frequent train-split tokens kept (the rest become <unk>); bpe: entries learned, 260 or more",
    ),
    OptionSpec(
        "seq_len",
        "Sequence length",
        0,
        minimum=0,
        maximum=100_000,
        help="tokens per text; 0 = automatic: the 95th percentile of the train texts' lengths",
    ),
    OptionSpec(
        "pretrained_tokenizer",
        "Model's tokenizer",
        "",
        help="an imported model's folder: its own tokenizer (tokenizer.json / vocab.txt) replaces the one above",
    ),
)

register_source(
    SourceType(
        kind="digits",
        label="Digits (built-in, 8x8)",
        load=load_digits_source,
        path_mode="none",
        detect=is_digits,
        options=IMAGE_OPTIONS,
        description="scikit-learn's bundled handwritten digits: 1,797 grayscale 8x8 images, 10 classes. Offline.",
    )
)
register_source(
    SourceType(
        kind="imagefolder",
        label="Image folder",
        load=load_imagefolder,
        path_mode="folder",
        detect=looks_like_imagefolder,
        options=IMAGE_OPTIONS,
        supports_val_source=True,
        description="One subfolder per class with PNG, JPEG, BMP, GIF or WebP images.",
    )
)
register_source(
    SourceType(
        kind="csv",
        label="CSV (table or text)",
        load=load_csv,
        path_mode="file",
        needs_target=True,
        file_filter="CSV files (*.csv *.tsv *.txt)",
        detect=is_csv,
        options=CSV_OPTIONS,
        description="A header row, feature columns and a target column; or a text column for text classification.",
    )
)
register_source(
    SourceType(
        kind="npz",
        label="NumPy .npz (X, y)",
        load=load_npz,
        path_mode="file",
        file_filter="NumPy archives (*.npz)",
        detect=is_npz,
        options=(
            OptionSpec("normalize", "Normalize", True),
            OptionSpec("task", "Task", "auto", choices=("auto", "classification", "regression")),
        ),
        description="Arrays X (samples first) and y (labels); optional class_names.",
        extra={"read_headers": read_npz_headers},
    )
)
register_source(
    SourceType(
        kind="mnist",
        label="MNIST (local folder)",
        load=load_mnist,
        path_mode="folder",
        detect=looks_like_mnist,
        options=(OFFICIAL_TEST, *IMAGE_OPTIONS),
        description="torchvision's layout: ROOT/MNIST/raw/*-ubyte",
    )
)
register_source(
    SourceType(
        kind="fashionmnist",
        label="FashionMNIST (local folder)",
        load=load_fashionmnist,
        path_mode="folder",
        detect=lambda p: looks_like_mnist(p, "FashionMNIST"),
        options=(OFFICIAL_TEST, *IMAGE_OPTIONS),
        description="torchvision's layout: ROOT/FashionMNIST/raw/*-ubyte",
    )
)
register_source(
    SourceType(
        kind="cifar10",
        label="CIFAR-10 (local folder)",
        load=load_cifar10,
        path_mode="folder",
        detect=looks_like_cifar,
        options=(OFFICIAL_TEST, *IMAGE_OPTIONS),
        description="torchvision's layout: ROOT/cifar-10-batches-py/",
    )
)
register_source(
    SourceType(
        kind="textfile",
        label="Text file (language model)",
        load=load_textfile,
        path_mode="file",
        file_filter="Text files (*.txt *.md *.text *.rst);;All files (*)",
        detect=is_textfile,
        options=(
            OptionSpec(
                "tokenizer",
                "Tokenizer",
                "chars",
                choices=("chars", "bpe"),
                help="chars: one token per character; bpe: byte-level BPE trained on the train part only",
            ),
            OptionSpec(
                "vocab_size",
                "Vocabulary size (bpe)",
                1000,
                minimum=260,
                maximum=100_000,
                help="BPE only: entries of the trained vocabulary (256 bytes + merges)",
            ),
            OptionSpec(
                "block_size",
                "Block size (tokens)",
                64,
                minimum=2,
                maximum=8192,
                help="tokens per training window; the model predicts each next token",
            ),
            OptionSpec(
                "encoding", "Encoding", "auto", choices=("auto", "utf-8", "cp1252", "latin-1", "utf-16")
            ),
        ),
        description="A plain text file cut into train / val / test by contiguous ranges, then into windows of "
        "block_size + 1 tokens for next-token prediction (a GPT-style language model).",
    )
)
