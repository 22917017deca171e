"""Tiny pretrained models made offline for the import tests and bench/finetune.py: a BERT-style encoder with a
WordPiece tokenizer trained by `tokenizers` on the standard library's docstrings (tests/realdata.py), saved with
save_pretrained; and a small ONNX file. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path


def train_wordpiece(texts: list[str], vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tok


def save_tiny_bert(
    folder: Path, texts: list[str], layers: int = 2, hidden: int = 64, vocab_size: int = 600, seed: int = 0
) -> Path:
    """A BertModel (base, no task head) with its own tokenizer in `folder`; returns the folder."""
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = train_wordpiece(texts, vocab_size)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 32),
        intermediate_size=hidden * 2,
        max_position_embeddings=256,
        pad_token_id=0,
    )
    model = BertModel(config)
    model.save_pretrained(folder)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(folder)
    return folder
