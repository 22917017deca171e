"""Text classification from a CSV text column: a small, documented tokenizer.

- `tokenizer="words"` (the default): lower-case, tokens are runs of letters, digits and apostrophes (`[\\w']+`);
  `"chars"`: lower-case characters (spaces included). For both the vocabulary is fitted on the train split
  only: id 0 is `<pad>`, id 1 is `<unk>`, then the most frequent tokens (ties alphabetical) up to `vocab_size`
  ids in all; it is `meta.extra["vocab"]`.
- `"bpe"`: subwords. A byte-level BPE tokenizer (GPT-2's scheme, lower-cased text, a space before each word)
  is trained by the `tokenizers` library on the train split's texts only, up to `vocab_size` entries (`<pad>`
  0 and `<unk>` 1 first, the 256 byte symbols, then the merges); any text encodes, so nothing is unknown.
  Training is deterministic (the same texts and size give the same ids in every process), and the trained
  tokenizer is kept as `tokenizers` JSON in `meta.extra["tokenizer_json"]`, hence in every checkpoint and run
  config, and as `tokenizer.json` in the run folder: `tokenizers.Tokenizer.from_file` reads it.
- every text becomes `seq_len` int64 ids: truncated at the end, padded with 0 at the START (left padding),
  so a recurrent layer's last step is the text's last real token, never padding. `seq_len=0` (the default)
  sizes it from the data: the 95th percentile of the train texts' token counts (`auto_seq_len`), so padding
  does not swamp short texts and only the longest 5% are cut.
`meta.input_dtype` is "int64", `meta.input_shape` is (seq_len,).
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
MODES = ("words", "chars", "bpe")
MIN_BPE_VOCAB = 260  # <pad>, <unk>, the 256 byte symbols and at least two merges


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
    vocab: list[str] | None = None  # words / chars
    tokenizer_json: str | None = None  # bpe: the trained `tokenizers` tokenizer

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"tokenizer {self.mode!r} is unknown; use {', '.join(MODES)}")
        if self.vocab_size < 3 or self.seq_len < 0:
            raise UserError("vocab_size must be at least 3 and seq_len at least 1 (or 0 for automatic)")
        if self.mode == "bpe" and self.vocab_size < MIN_BPE_VOCAB:
            raise UserError(
                f"vocab_size {self.vocab_size} is too small for the bpe tokenizer: it needs at least "
                f"{MIN_BPE_VOCAB} (the 256 byte symbols, <pad>, <unk> and some merges); try 2000 or more"
            )
        self._bpe: Any = None
        if self.tokenizer_json is not None:
            from tokenizers import Tokenizer as HFTokenizer

            self._bpe = HFTokenizer.from_str(self.tokenizer_json)

    @property
    def fitted(self) -> bool:
        return self.vocab is not None or self._bpe is not None

    @property
    def size(self) -> int:
        """The number of ids (the Embedding's num_embeddings)."""
        if self._bpe is not None:
            return int(self._bpe.get_vocab_size())
        if self.vocab is None:
            raise RuntimeError("fit the tokenizer first")
        return len(self.vocab)

    def tokens(self, text: str) -> list[str]:
        if self.mode == "bpe":
            if self._bpe is None:
                raise RuntimeError("fit the tokenizer first")
            return list(self._bpe.encode(text).tokens)
        text = text.lower()
        return WORD.findall(text) if self.mode == "words" else list(text)

    def fit(self, texts: list[str]) -> Tokenizer:
        if self.mode == "bpe":
            self.tokenizer_json = train_bpe(texts, self.vocab_size)
            self.__post_init__()
            tokenized = [e.ids for e in self._bpe.encode_batch(list(texts))]
        else:
            tokenized = [self.tokens(text) for text in texts]
            counts = Counter(t for tokens in tokenized for t in tokens)
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.vocab_size - 2]
            self.vocab = [PAD, UNK] + [t for t, _ in ranked]
        if self.seq_len == 0:
            self.seq_len = auto_seq_len(len(t) for t in tokenized)
        return self

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's ids, unpadded and untruncated."""
        if self._bpe is not None:
            return [list(e.ids) for e in self._bpe.encode_batch(list(texts))]
        if self.vocab is None:
            raise RuntimeError("fit the tokenizer first")
        index = {t: i for i, t in enumerate(self.vocab)}
        return [[index.get(t, 1) for t in self.tokens(text)] for text in texts]

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.seq_len), dtype=np.int64)
        for row, ids in enumerate(self.token_ids(texts)):
            ids = ids[: self.seq_len]
            if ids:
                out[row, self.seq_len - len(ids) :] = ids  # left padding: the last step is a real token
        return out

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids if int(i) != 0]
        if self._bpe is not None:
            return str(self._bpe.decode(ids)).strip()
        sep = " " if self.mode == "words" else ""
        if self.vocab is None:  # not fitted: the first real (non-padding) id fails, as indexing None did
            if ids:
                raise TypeError("fit the tokenizer first")
            return ""
        return sep.join(self.vocab[i] for i in ids)

    def meta(self) -> dict[str, Any]:
        """The facts `text_tokenizer` rebuilds it from (kept in the data's meta, so in checkpoints and runs)."""
        out: dict[str, Any] = {"tokenizer": self.mode, "vocab_size": self.size, "seq_len": self.seq_len}
        if self.mode == "bpe":
            out["tokenizer_json"] = self.tokenizer_json
        else:
            out["vocab"] = list(self.vocab or [])
        return out


def train_bpe(texts: list[str], vocab_size: int) -> str:
    """A byte-level BPE tokenizer trained on `texts` (lower-cased), as `tokenizers` JSON. Deterministic: the
    alphabet is the fixed 256 byte symbols and the trainer breaks ties between pairs by their ids."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    bpe = HFTokenizer(models.BPE(unk_token=UNK))
    bpe.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size),
        special_tokens=[PAD, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return str(bpe.to_str())


def text_tokenizer(extra: dict[str, Any]) -> Tokenizer:
    """The tokenizer a text-classification data set (or a run's `dataset_meta["extra"]`) was made with."""
    mode = extra.get("tokenizer", "words")
    seq_len = int(extra.get("seq_len") or 0)
    if mode == "bpe" and extra.get("tokenizer_json"):
        return Tokenizer(
            "bpe", int(extra.get("vocab_size") or MIN_BPE_VOCAB), seq_len, None, extra["tokenizer_json"]
        )
    if mode in ("words", "chars") and extra.get("vocab"):
        vocab = list(extra["vocab"])
        return Tokenizer(mode, max(3, len(vocab)), seq_len, vocab)
    raise UserError("these data facts hold no text tokenizer (not a CSV text column's data set)")


TOKENIZER_KEYS = ("tokenizer", "vocab", "tokenizer_json", "tokenizer_folder")


def tokenizer_mismatch(trained: dict[str, Any], loaded: dict[str, Any]) -> str | None:
    """Why token ids of `loaded` data (its meta.extra) would not mean what they meant to a model trained on data
    with the facts `trained` (a checkpoint's dataset extra), or None when they tokenize alike (or are not text)."""
    if not any(trained.get(k) for k in TOKENIZER_KEYS) or not any(loaded.get(k) for k in TOKENIZER_KEYS):
        return None
    if trained.get("tokenizer") != loaded.get("tokenizer"):
        return (
            f"was trained on {trained.get('tokenizer')} tokens, the loaded data uses {loaded.get('tokenizer')} "
            "tokens; set the data's tokenizer back"
        )
    if any(trained.get(k) != loaded.get(k) for k in TOKENIZER_KEYS):
        return (
            f"was trained with another {trained.get('tokenizer')} vocabulary ({trained.get('vocab_size')} entries, "
            f"the loaded data has {loaded.get('vocab_size')}): the texts, the split or vocab_size changed since"
        )
    return None


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
            str(opts.get("tokenizer") or "words"),
            int(opts.get("vocab_size") or 10000),
            int(opts.get("seq_len") or 0),
        )
    tok.fit([raw.texts[i] for i in parts["train"]])
    ids = tok.encode(raw.texts)
    lengths = np.array([len(t) for t in tok.token_ids(raw.texts)])
    splits = {}
    for name in SPLIT_NAMES:
        idx = parts[name]
        y = raw.y[idx].astype(np.int64 if raw.task == "classification" else np.float32)
        splits[name] = make_split(name, torch.from_numpy(ids[idx]), torch.from_numpy(np.ascontiguousarray(y)))
        splits[name].indices = idx.tolist()
    meta = make_meta(settings, raw, (tok.seq_len,), input_dtype="int64")
    meta.extra.update(
        **tok.meta(),
        truncated=int((lengths > tok.seq_len).sum()),
        mean_tokens=float(lengths.mean()),
        memory_bytes=int(ids.nbytes),
        streaming=False,
    )
    return DataBundle(meta=meta, texts=list(raw.texts), **splits)
