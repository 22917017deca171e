"""A plain text file for causal language modelling (data kind "textfile").

- The file is read whole and cut into train / val / test by CONTIGUOUS character ranges in that order
  (the split fractions; the split seed plays no part), so no window of one split overlaps another's text.
- Tokens: `tokenizer="chars"` (the default) gives one id per character; the vocabulary is the train range's
  characters (sorted, id 0 `<unk>` for characters only val/test contain). `"bpe"`: a byte-level BPE tokenizer
  trained by the `tokenizers` library on the train range only (`vocab_size` entries), which decodes any text.
  (Not the CSV text source's bpe, workbench.core.data.text.train_bpe: that one lower-cases and strips for
  classification; a language model's tokens must give the text back exactly, case, spaces and line breaks.)
  The tokenizer travels with the data's meta (`extra["vocab"]` or `extra["tokenizer_json"]`), so checkpoints and
  run folders can encode prompts and decode samples on their own (`lm_tokenizer`).
- Every split is cut into non-overlapping windows of `block_size + 1` tokens: input = the first `block_size`,
  target = the same window shifted by one (next tokens). Both (block_size,) int64.
`meta.task` is "language_model", `meta.num_classes` the vocabulary size (the model's output is (L, vocab)).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.data.raw import RawData
from workbench.core.errors import UserError

LM, LANGUAGE_MODEL = "lm", "language_model"  # RawData.modality, DatasetMeta.task
UNK = "<unk>"
MAX_TEXT_BYTES = 1 << 30
TEXT_SUFFIXES = ("", ".text", ".md", ".rst", ".asc")


def is_textfile(path: Path) -> bool:
    """A regular file without a CSV/archive suffix whose start is UTF-8 text (e.g. a licence, a book, README.md)."""
    if not path.is_file() or path.suffix.lower() not in TEXT_SUFFIXES:
        return False
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip() or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a character cut at the end of the sample
    return True


def load_textfile(settings, progress=None, cancel=None) -> RawData:
    from workbench.core.data.csvfile import decode_text
    from workbench.core.io import read_regular_bytes

    path = Path(settings.source).expanduser()
    data = read_regular_bytes(path, "text file", MAX_TEXT_BYTES)
    wanted = settings.options.get("encoding", "auto")
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or str(wanted).startswith("utf-16")
    if b"\x00" in data[:4096] and not utf16:
        raise UserError(f"{path} looks like a binary file; a language model needs a plain text file")
    text, encoding = decode_text(data, wanted)
    if not text.strip():
        raise UserError(f"{path} is empty; give a text file with some prose in it")
    return RawData(
        modality=LM,
        y=np.zeros(1, dtype=np.int64),  # one document; the windows are made in `lm_bundle`
        class_names=[],
        texts=[text],
        task=LANGUAGE_MODEL,
        extra={"encoding": encoding, "characters": len(text)},
    )


@dataclass
class LMTokenizer:
    """Encodes text to ids and back: characters (`vocab`) or a `tokenizers` byte-level BPE (`tokenizer_json`)."""

    mode: str
    vocab: list[str] | None = None
    tokenizer_json: str | None = None

    def __post_init__(self) -> None:
        self._index = {t: i for i, t in enumerate(self.vocab)} if self.vocab is not None else None
        self._bpe: Any = None
        if self.tokenizer_json is not None:
            from tokenizers import Tokenizer

            self._bpe = Tokenizer.from_str(self.tokenizer_json)

    @property
    def unk_id(self) -> int | None:
        """The id of `<unk>` (chars only): never generated, it stands for characters the train part lacks."""
        return 0 if self.vocab is not None else None

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) if self.vocab is not None else int(self._bpe.get_vocab_size())

    def encode(self, text: str) -> list[int]:
        if self._bpe is not None:
            return list(self._bpe.encode(text).ids)
        index = self._index or {}
        return [index.get(c, 0) for c in text]

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        if self._bpe is not None:
            return str(self._bpe.decode(ids))
        vocab = self.vocab or []
        return "".join(vocab[i] if 0 < i < len(vocab) else "\ufffd" for i in ids)

    def meta(self) -> dict[str, Any]:
        """What `lm_tokenizer` rebuilds it from (kept in the data's meta, hence in checkpoints and runs)."""
        out: dict[str, Any] = {"tokenizer": self.mode, "vocab_size": self.vocab_size}
        if self.vocab is not None:
            out["vocab"] = list(self.vocab)
        else:
            out["tokenizer_json"] = self.tokenizer_json
        return out


def fit_tokenizer(mode: str, train_text: str, vocab_size: int) -> LMTokenizer:
    """A tokenizer fitted on the train range only."""
    if mode == "chars":
        return LMTokenizer("chars", vocab=[UNK, *sorted(set(train_text))])
    if mode != "bpe":
        raise UserError(f"tokenizer {mode!r} is unknown for a text file; use chars or bpe")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    lines = train_text.splitlines(keepends=True)
    bpe.train_from_iterator((lines[i : i + 1000] for i in range(0, len(lines), 1000)), trainer=trainer)
    return LMTokenizer("bpe", tokenizer_json=bpe.to_str())


def lm_tokenizer(extra: dict[str, Any]) -> LMTokenizer:
    """The tokenizer a language-model data set (or a checkpoint's `meta["dataset"]["extra"]`) was made with."""
    if extra.get("tokenizer_json"):
        return LMTokenizer("bpe", tokenizer_json=extra["tokenizer_json"])
    if extra.get("vocab") and extra.get("tokenizer") == "chars":
        return LMTokenizer("chars", vocab=list(extra["vocab"]))
    raise UserError("this run was not trained on a text file (no language-model tokenizer in its data facts)")


def contiguous_ranges(n: int, fractions: tuple[float, float, float]) -> list[tuple[int, int]]:
    """[(start, end)] of train, val, test over n characters, in that order."""
    train_end = round(n * fractions[0])
    val_end = train_end + round(n * fractions[1])
    val_end = min(val_end, n) if fractions[2] > 0 else n
    return [(0, train_end), (train_end, val_end), (val_end, n)]


def windows(ids: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping (block_size + 1)-token windows: (inputs, next-token targets), each (N, block_size)."""
    count = max(0, (len(ids) - 1) // block_size)
    x = np.zeros((count, block_size), dtype=np.int64)
    y = np.zeros((count, block_size), dtype=np.int64)
    for i in range(count):
        start = i * block_size
        x[i] = ids[start : start + block_size]
        y[i] = ids[start + 1 : start + block_size + 1]
    return x, y


def tokenized(settings, raw: RawData, progress=None):
    """(tokenizer, block size, character ranges, token ids per split) of a text file's data (no torch)."""
    opts = settings.options
    mode = str(opts.get("tokenizer", "chars") or "chars")
    block = int(opts.get("block_size", 64) or 64)
    text = (raw.texts or [""])[0]
    sp = settings.split
    ranges = contiguous_ranges(len(text), (sp.train, sp.val, sp.test))
    parts = [text[a:b] for a, b in ranges]
    if progress:
        progress(0, 1, "Training the tokenizer" if mode == "bpe" else "Tokenizing")
    tok = fit_tokenizer(mode, parts[0], int(opts.get("vocab_size", 1000) or 1000))
    ids = {
        n: np.asarray(tok.encode(p), dtype=np.int64)
        for n, p in zip(("train", "val", "test"), parts, strict=True)
    }
    return tok, block, ranges, ids


def lm_bundle(settings, raw: RawData, make_split: Callable, progress=None):
    import torch

    from workbench.core.data.dataset import DataBundle, DatasetMeta

    tok, block, ranges, ids = tokenized(settings, raw, progress)
    splits = {}
    tokens = {name: len(split_ids) for name, split_ids in ids.items()}
    for name, split_ids in ids.items():
        x, y = windows(split_ids, block)
        splits[name] = make_split(name, torch.from_numpy(x), torch.from_numpy(y))
        splits[name].indices = list(range(len(x)))
    if len(splits["train"]) == 0:
        raise UserError(
            f"the train part of {settings.source} has {tokens['train']} tokens; a block of {block} needs "
            f"{block + 1}: lower block_size or use a longer text"
        )
    extra = {
        "modality": LM,
        **raw.extra,
        **tok.meta(),
        "block_size": block,
        "tokens": tokens,
        "char_ranges": [list(r) for r in ranges],
        "num_samples": sum(len(s) for s in splits.values()),
        "memory_bytes": int(sum(len(s) for s in splits.values()) * block * 16),
        "streaming": False,
    }
    meta = DatasetMeta(
        kind=settings.kind,
        input_shape=(block,),
        num_classes=tok.vocab_size,
        class_names=[],
        task=LANGUAGE_MODEL,
        input_dtype="int64",
        extra=extra,
    )
    return DataBundle(meta=meta, **splits)
