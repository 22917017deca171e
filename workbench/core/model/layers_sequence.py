"""Built-in sequence layers: Embedding and EmbeddingBag (int64 token ids; the bag is
`workbench.core.model.modules.TokenBag`) and LSTM / GRU wrapped so they return the last hidden state or every
step (`workbench.core.model.modules.RecurrentBlock`)."""

from __future__ import annotations

from workbench.core.model.layers import CHANNELS, check_inferred, need_rank, torch_build
from workbench.core.model.registry import Fix, LayerError, LayerType, Param, register_layer


def _embedding_infer(p, s):
    need_rank("Embedding", s, (1,), "a sequence of token ids (L,)")
    if p["padding_idx"] is not None and not -p["num_embeddings"] <= p["padding_idx"] < p["num_embeddings"]:
        raise LayerError(
            f"Embedding padding_idx {p['padding_idx']} must be below num_embeddings {p['num_embeddings']}"
        )
    return p


register_layer(
    LayerType(
        "Embedding",
        "Sequence",
        token_input=True,
        doc="Looks up a learned vector for each integer token id (L,) -> (L, embedding_dim). Must come first.",
        params=(
            Param("num_embeddings", "int", 1000, 1, 10_000_000, doc="Vocabulary size (largest token id + 1)"),
            Param("embedding_dim", "int", 64, 1, 65_536, doc="Size of each token's vector"),
            Param(
                "padding_idx",
                "int",
                None,
                optional=True,
                doc="Token id whose vector stays zero (empty: none)",
            ),
        ),
        build=torch_build("Embedding"),
        infer=_embedding_infer,
        shape=lambda p, s: (*s, p["embedding_dim"]),
        count_params=lambda p, s: p["num_embeddings"] * p["embedding_dim"],
        macs=lambda p, s, o: 0,
    )
)


def _bag_infer(p, s):
    need_rank("EmbeddingBag", s, (1,), "a sequence of token ids (L,)")
    if p["padding_idx"] is not None and not 0 <= p["padding_idx"] < p["num_embeddings"]:
        raise LayerError(
            f"EmbeddingBag padding_idx {p['padding_idx']} must be 0..{p['num_embeddings'] - 1} "
            f"(below num_embeddings {p['num_embeddings']})",
            Fix("Set padding_idx to 0", "set", (), {"padding_idx": 0}),
        )
    return p


def _bag_build(p, s):
    from workbench.core.model.modules import TokenBag

    return TokenBag(p["num_embeddings"], p["embedding_dim"], mode=p["mode"], padding_idx=p["padding_idx"])


register_layer(
    LayerType(
        "EmbeddingBag",
        "Sequence",
        token_input=True,
        doc="A bag of embeddings (fastText): the mean, sum or max of the vectors of a text's token ids (L,) -> "
        "(embedding_dim,), padding left out. Vectors start uniform in +-1/embedding_dim. Must come first.",
        params=(
            Param("num_embeddings", "int", 1000, 1, 10_000_000, doc="Vocabulary size (largest token id + 1)"),
            Param("embedding_dim", "int", 64, 1, 65_536, doc="Size of each token's vector"),
            Param("mode", "choice", "mean", choices=("mean", "sum", "max"), doc="How the vectors are pooled"),
            Param(
                "padding_idx",
                "int",
                0,
                optional=True,
                doc="Token id left out of the pooling, its vector zero (empty: none; the text sources pad with 0)",
            ),
        ),
        build=_bag_build,
        infer=_bag_infer,
        shape=lambda p, s: (p["embedding_dim"],),
        count_params=lambda p, s: p["num_embeddings"] * p["embedding_dim"],
        macs=lambda p, s, o: 0,
        code=lambda p, s: (
            f"TokenBag({p['num_embeddings']}, {p['embedding_dim']}, mode={p['mode']!r}, "
            f"padding_idx={p['padding_idx']!r})"
        ),
        code_helpers=("TokenBag",),
    )
)


def _rnn(name: str, gates: int):
    def infer(p, s):
        fix = None
        if len(s) == 1:
            fix = Fix(
                f"Insert Unflatten to a {s[0]}x1 sequence before it",
                "insert",
                (),
                {"type": "Unflatten", "dim": 1, "unflattened_size": [s[0], 1]},
            )
        need_rank(name, s, (2,), "a sequence (L, features); put an Embedding or Unflatten before it", fix)
        if p["num_layers"] == 1 and p["dropout"] > 0:
            raise LayerError(
                f"{name} dropout applies between stacked layers; set num_layers to 2 or more or dropout to 0",
                Fix("Set dropout to 0", "set", (), {"dropout": 0.0}),
            )
        return check_inferred(p, "input_size", s[-1], name)

    def shape(p, s):
        width = p["hidden_size"] * (2 if p["bidirectional"] else 1)
        return (s[0], width) if p["output"] == "all" else (width,)

    def count(p, s):
        h, dirs, total = p["hidden_size"], 2 if p["bidirectional"] else 1, 0
        for layer in range(p["num_layers"]):
            n_in = p["input_size"] if layer == 0 else h * dirs
            total += dirs * gates * (n_in * h + h * h + (2 * h if p["bias"] else 0))
        return total

    def macs(p, s, o):
        h, dirs, total = p["hidden_size"], 2 if p["bidirectional"] else 1, 0
        for layer in range(p["num_layers"]):
            n_in = p["input_size"] if layer == 0 else h * dirs
            total += dirs * gates * (n_in * h + h * h)
        return total * s[0]

    def build(p, s):
        from torch import nn

        from workbench.core.model.modules import RecurrentBlock

        rnn = getattr(nn, name)(
            p["input_size"],
            p["hidden_size"],
            num_layers=p["num_layers"],
            bias=p["bias"],
            batch_first=True,
            dropout=p["dropout"],
            bidirectional=p["bidirectional"],
        )
        return RecurrentBlock(rnn, p["output"])

    def code(p, s):
        args = ", ".join(f"{k}={p[k]!r}" for k in ("num_layers", "bias", "dropout", "bidirectional"))
        return (
            f"RecurrentBlock(nn.{name}({p['input_size']}, {p['hidden_size']}, {args}, batch_first=True), "
            f"{p['output']!r})"
        )

    return LayerType(
        name,
        "Sequence",
        doc=f"{name} over a (L, features) sequence, batch first; returns the final hidden state "
        "(output='last', composes with Linear) or every step (output='all').",
        params=(
            Param("input_size", "int", minimum=1, inferred=True, doc=f"Features per step; {CHANNELS}"),
            Param("hidden_size", "int", 64, 1, 65_536, doc="Hidden state size"),
            Param("num_layers", "int", 1, 1, 64, doc="Stacked recurrent layers"),
            Param(
                "bidirectional", "bool", False, doc="Also read the sequence backwards (doubles the output)"
            ),
            Param("dropout", "float", 0.0, 0, 1, doc="Dropout between stacked layers"),
            Param("bias", "bool", True, doc="Learn biases"),
            Param(
                "output",
                "choice",
                "last",
                choices=("last", "all"),
                ctor=False,
                doc="last: the final hidden state (features,); all: every step (L, features)",
            ),
        ),
        build=build,
        infer=infer,
        shape=shape,
        count_params=count,
        macs=macs,
        code=code,
        code_helpers=("RecurrentBlock",),
    )


register_layer(_rnn("LSTM", 4))
register_layer(_rnn("GRU", 3))
