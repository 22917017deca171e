"""Text classification from a CSV text column: a small, documented tokenizer.

- `tokenizer="words"`: lower-case, tokens are runs of letters, digits and apostrophes (`[\\w']+`);
  `"chars"`: lower-case characters (spaces included).
- vocabulary: fitted on the train split only; id 0 is `<pad>`, id 1 is `<unk>`, then the most frequent tokens
  (ties alphabetical) up to `vocab_size` ids in all.
- every text becomes `seq_len` int64 ids: truncated at the end, padded with 0 at the START (left padding),
  so a recurrent layer's last step is the text's last real token, never padding. `seq_len=0` (the default)
  sizes it from the data: the 95th percentile of the train texts' token counts (`auto_seq_len`), so padding
  does not swamp short texts and only the longest 5% are cut.
`meta.input_dtype` is "int64", `meta.input_shape` is (seq_len,), the vocabulary is `meta.extra["vocab"]`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.core.data.raw import SPLIT_NAMES
from workbench.core.errors import UserError

PAD, UNK = "<pad>", "<unk>"
WORD = re.compile(r"[\w']+")
AUTO_PERCENTILE = 95
MAX_AUTO_SEQ_LEN = 512


def auto_seq_len(counts) -> int:
    """The sequence length for texts with these token counts: their 95th percentile (1 to 512)."""
    counts = np.asarray(list(counts), dtype=np.float64)
    if counts.size == 0:
        return 1
    return int(min(MAX_AUTO_SEQ_LEN, max(1, np.ceil(np.percentile(counts, AUTO_PERCENTILE)))))


@dataclass
class Tokenizer:
    mode: str = "words"
    vocab_size: int = 10000
    seq_len: int = 0  # 0: sized by fit() from the texts (auto_seq_len)
    vocab: list[str] | None = None

    def __post_init__(self):
        if self.mode not in ("words", "chars"):
            raise UserError(f"tokenizer {self.mode!r} is unknown; use words or chars")
        if self.vocab_size < 3 or self.seq_len < 0:
            raise UserError("vocab_size must be at least 3 and seq_len at least 1 (or 0 for automatic)")

    def tokens(self, text: str) -> list[str]:
        text = text.lower()
        return WORD.findall(text) if self.mode == "words" else list(text)

    def fit(self, texts: list[str]) -> Tokenizer:
        tokenized = [self.tokens(text) for text in texts]
        if self.seq_len == 0:
            self.seq_len = auto_seq_len(len(t) for t in tokenized)
        counts = Counter(t for tokens in tokenized for t in tokens)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.vocab_size - 2]
        self.vocab = [PAD, UNK] + [t for t, _ in ranked]
        return self

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.vocab is None:
            raise RuntimeError("fit the tokenizer first")
        index = {t: i for i, t in enumerate(self.vocab)}
        out = np.zeros((len(texts), self.seq_len), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [index.get(t, 1) for t in self.tokens(text)[: self.seq_len]]
            if ids:
                out[row, self.seq_len - len(ids) :] = ids  # left padding: the last step is a real token
        return out

    def decode(self, ids) -> str:
        sep = " " if self.mode == "words" else ""
        if self.vocab is None:  # not fitted: the first real (non-padding) id fails, as indexing None did
            if any(int(i) != 0 for i in ids):
                raise TypeError("fit the tokenizer first")
            return ""
        return sep.join(self.vocab[int(i)] for i in ids if int(i) != 0)


def text_bundle_parts(settings, raw, parts, make_meta, make_split):
    import torch

    from workbench.core.data.dataset import DataBundle

    opts = settings.options
    tok: Any
    if opts.get("pretrained_tokenizer"):  # an imported model's own tokenizer (pretrained_text.py)
        from workbench.core.data.pretrained_text import PretrainedTokenizer

        tok = PretrainedTokenizer(str(opts["pretrained_tokenizer"]), int(opts.get("seq_len") or 0))
    else:
        tok = Tokenizer(
            opts.get("tokenizer", "words"), int(opts.get("vocab_size", 10000)), int(opts.get("seq_len", 0))
        )
    tok.fit([raw.texts[i] for i in parts["train"]])
    ids = tok.encode(raw.texts)
    lengths = np.array([len(tok.tokens(t)) for t in raw.texts])
    splits = {}
    for name in SPLIT_NAMES:
        idx = parts[name]
        y = raw.y[idx].astype(np.int64 if raw.task == "classification" else np.float32)
        splits[name] = make_split(name, torch.from_numpy(ids[idx]), torch.from_numpy(np.ascontiguousarray(y)))
        splits[name].indices = idx.tolist()
    meta = make_meta(settings, raw, (tok.seq_len,), input_dtype="int64")
    meta.extra.update(
        vocab=tok.vocab,
        vocab_size=len(tok.vocab),
        tokenizer=tok.mode,
        seq_len=tok.seq_len,
        truncated=int((lengths > tok.seq_len).sum()),
        mean_tokens=float(lengths.mean()),
        memory_bytes=int(ids.nbytes),
        streaming=False,
    )
    return DataBundle(meta=meta, texts=list(raw.texts), **splits)
