"""A pretrained model's own tokenizer for a CSV text column (data option `pretrained_tokenizer`: the model's
folder). Read with the `tokenizers` library from `tokenizer.json` (or a WordPiece `vocab.txt`), never from the
network; nothing is fitted. Texts get the model's special tokens ([CLS] ... [SEP]), are cut at `seq_len` and
padded at the END with the model's pad id (absolute position embeddings expect the text at position 0); the
model masks the padding out of attention. `seq_len=0`: the 95th percentile of the train texts' lengths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.errors import UserError

MAX_SEQ_LEN = 512


class PretrainedTokenizer:
    mode = "pretrained"

    def __init__(self, folder: str, seq_len: int = 0):
        self.folder = Path(folder).expanduser()
        self.seq_len = int(seq_len)
        self._tok = _load(self.folder)
        self.pad_id = _pad_id(self.folder, self._tok)

    @property
    def size(self) -> int:
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    @property
    def vocab(self) -> list[str]:
        """The tokens by id."""
        by_id = {i: t for t, i in self._tok.get_vocab(with_added_tokens=True).items()}
        return [by_id.get(i, "") for i in range(self.size)]

    def tokens(self, text: str) -> list[str]:
        return list(self._tok.encode(str(text)).tokens)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return [list(e.ids) for e in self._tok.encode_batch([str(t) for t in texts])]

    def fit(self, texts: list[str]) -> PretrainedTokenizer:
        if self.seq_len == 0:
            from workbench.core.data.text import auto_seq_len

            self.seq_len = min(MAX_SEQ_LEN, auto_seq_len(len(ids) for ids in self.token_ids(texts)))
        return self

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), self.seq_len), self.pad_id, dtype=np.int64)
        for row, ids in enumerate(self.token_ids(texts)):
            ids = ids[: self.seq_len]
            out[row, : len(ids)] = ids
        return out

    def decode(self, ids) -> str:
        return str(self._tok.decode([int(i) for i in ids if int(i) != self.pad_id]))

    def meta(self) -> dict[str, Any]:
        return {
            "tokenizer": self.mode,
            "tokenizer_folder": str(self.folder),
            "vocab_size": self.size,
            "seq_len": self.seq_len,
            "pad_id": self.pad_id,
        }


def _load(folder: Path):
    from tokenizers import Tokenizer

    file = folder / "tokenizer.json"
    if file.is_file():
        try:
            return Tokenizer.from_file(str(file))
        except Exception as exc:  # noqa: BLE001 - the tokenizers library says why the file is unreadable
            raise UserError(f"{file} is not a tokenizer file ({str(exc).splitlines()[0][:120]})") from None
    vocab = folder / "vocab.txt"
    if vocab.is_file():
        from tokenizers.implementations import BertWordPieceTokenizer

        lower = bool(_config(folder, "tokenizer_config.json").get("do_lower_case", True))
        return BertWordPieceTokenizer(str(vocab), lowercase=lower)._tokenizer
    raise UserError(
        f"{folder} has no tokenizer (tokenizer.json or vocab.txt); put the model's tokenizer files in the folder"
    )


def _config(folder: Path, name: str) -> dict:
    file = folder / name
    try:
        doc = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _pad_id(folder: Path, tok) -> int:
    pad = _config(folder, "config.json").get("pad_token_id")
    if isinstance(pad, int):
        return pad
    for name in ("[PAD]", "<pad>"):
        found = tok.token_to_id(name)
        if found is not None:
            return int(found)
    return 0
