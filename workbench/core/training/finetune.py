"""Fine-tuning as a training option (TrainingConfig.finetune, frozen, lora_*), applied by the same loop.

- `full`: every weight trains (except the `frozen` module paths).
- `freeze`: the imported (Pretrained) models' own weights stay fixed; their new head and every other layer train.
- `lora`: LoRA adapters (peft) on the target modules, the base weights fixed; the new head trains fully. Default
  targets per architecture come from peft's table (BERT: query, value; GPT-2: c_attn); for ONNX / module imports
  and Workbench's own layers: every Linear but the head.
`frozen` paths (state-dict prefixes such as `0.model.bert.encoder.layer.0`, the builder's lock toggles) stay fixed
in every method. When anything is fixed, checkpoints hold only what trains (plus buffers) and a reference (path +
sha256) to the base weights; `rebuild` puts the two together again, and merges LoRA adapters for export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.core.errors import UserError

if TYPE_CHECKING:
    import torch

    from workbench.core.model.spec import ModelSpec
    from workbench.core.training.config import TrainingConfig


@dataclass
class FinetunePlan:
    method: str
    total_params: int
    trainable_params: int
    partial: bool  # checkpoints hold only the trained tensors (and buffers)
    lora: dict[str, Any] | None = None  # rank, alpha, dropout, targets (the module names adapted)
    frozen: list[str] = field(default_factory=list)
    base: list[dict[str, Any]] = field(default_factory=list)  # [{layer, format, source, sha256}]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "trainable_share": self.trainable_params / max(self.total_params, 1),
            "partial_checkpoints": self.partial,
            "lora": self.lora,
            "frozen": self.frozen,
            "base": self.base,
        }


def base_references(spec: ModelSpec) -> list[dict[str, Any]]:
    """The imported models a spec builds on: where their weights are and their sha256."""
    return [
        {
            "layer": str(i),
            "format": layer.params.get("format", "huggingface"),
            "source": layer.params.get("source", ""),
            "sha256": layer.params.get("sha256", ""),
        }
        for i, layer in enumerate(spec.layers)
        if layer.type == "Pretrained"
    ]


def new_keys(model: torch.nn.Module, spec: ModelSpec) -> set[str]:
    """Parameter names that did not come from an imported model (heads and the spec's own layers). Without an
    imported model: the last layer with weights (the head)."""
    names = [n for n, _ in model.named_parameters()]
    pretrained = {str(i) for i, layer in enumerate(spec.layers) if layer.type == "Pretrained"}
    if not pretrained:
        owners = [n.split(".", 1)[0] for n in names]
        head = owners[-1] if owners else ""
        return {n for n, o in zip(names, owners, strict=True) if o == head}
    out = {n for n in names if n.split(".", 1)[0] not in pretrained}
    for index in pretrained:
        out.update(f"{index}.{k}" for k in getattr(model.get_submodule(index), "new_keys", []))
    return out


def default_lora_targets(model: torch.nn.Module, spec: ModelSpec, head: set[str]) -> list[str]:
    """The full names of the modules to adapt: peft's table for a known Hugging Face architecture, otherwise
    every Linear outside the head."""
    import torch
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as TABLE

    suffixes: list[str] = []
    for i, layer in enumerate(spec.layers):
        if layer.type == "Pretrained":
            model_type = getattr(model.get_submodule(str(i)), "model_type", "")
            suffixes += list(TABLE.get(model_type, []))
    out = []
    for name, module in model.named_modules():
        if any(k.startswith(name + ".") for k in head):
            continue
        if suffixes:
            if any(name.endswith("." + s) for s in suffixes):
                out.append(name)
        elif isinstance(module, torch.nn.Linear):
            out.append(name)
    return out


def _lora_targets(model, spec, cfg, head: set[str]) -> list[str]:
    if not cfg.lora_targets:
        return default_lora_targets(model, spec, head)
    names = [n for n, _ in model.named_modules() if n]
    out = [n for n in names if any(n == t or n.endswith("." + t) for t in cfg.lora_targets)]
    unknown = [t for t in cfg.lora_targets if not any(n == t or n.endswith("." + t) for n in names)]
    if unknown:
        raise UserError(
            f"lora_targets: no module is called {unknown[0]!r}; name Linear modules such as query, value or a "
            "layer path like 0.model.bert.encoder.layer.0.attention.self.query"
        )
    return out


def apply_finetune(model: torch.nn.Module, spec: ModelSpec, cfg: TrainingConfig) -> FinetunePlan:
    """Set requires_grad (and inject LoRA adapters) on `model` in place, as `cfg` says."""
    names = [n for n, _ in model.named_parameters()]
    for path in cfg.frozen:
        if not any(n == path or n.startswith(path + ".") for n in names):
            raise UserError(
                f"frozen path {path!r} matches no weights of the model; paths are module names such as "
                f"{names[0].rsplit('.', 1)[0] if names else '0'}"
            )
    head = new_keys(model, spec)
    lora = None
    if cfg.finetune == "freeze":
        if not base_references(spec):
            raise UserError(
                "finetune freeze keeps an imported model's weights fixed, and this network has none; "
                "use full, or lock layers with frozen paths"
            )
        for name, param in model.named_parameters():
            param.requires_grad_(name in head)
    elif cfg.finetune == "lora":
        targets = _lora_targets(model, spec, cfg, head)
        if not targets:
            raise UserError("LoRA found no Linear module to adapt; set lora_targets or use full fine-tuning")
        from peft import LoraConfig, inject_adapter_in_model

        pattern = "(" + "|".join(re.escape(t) for t in targets) + ")"
        config = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,  # type: ignore[arg-type]  # (a float works: scaling is alpha / r)
            lora_dropout=cfg.lora_dropout,
            target_modules=pattern,
        )
        inject_adapter_in_model(config, model)
        for name, param in model.named_parameters():
            param.requires_grad_("lora_" in name or name in head)
        lora = {
            "rank": cfg.lora_rank,
            "alpha": cfg.lora_alpha,
            "dropout": cfg.lora_dropout,
            "targets": targets,
        }
    else:
        for param in model.parameters():
            param.requires_grad_(True)
    for name, param in model.named_parameters():
        plain = name.replace(".base_layer", "")
        if any(plain == p or plain.startswith(p + ".") for p in cfg.frozen):
            param.requires_grad_(False)
    total = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    partial = cfg.finetune != "full" or bool(cfg.frozen)
    return FinetunePlan(
        cfg.finetune, total, trainable, partial, lora, list(cfg.frozen), base_references(spec)
    )


def saved_keys(model: torch.nn.Module) -> set[str]:
    """What a partial checkpoint holds: the trainable parameters and every buffer of the state dict."""
    params = dict(model.named_parameters())
    return {k for k in model.state_dict() if k not in params or params[k].requires_grad}


def load_trained_state(model: torch.nn.Module, state: dict, source: Any, partial: bool) -> None:
    """Load a checkpoint into a model prepared by apply_finetune: strictly, or (partial) every trained tensor."""
    from workbench.core.training.checkpoints import load_state_strict

    if not partial:
        load_state_strict(model, state, source)
        return
    own = model.state_dict()
    where = f" in {source}" if source else ""
    for key, value in state.items():
        if key not in own:
            raise UserError(f"checkpoint{where} does not match the model: unexpected tensor '{key}'")
        if tuple(own[key].shape) != tuple(value.shape):
            raise UserError(
                f"checkpoint{where} does not match the model: tensor '{key}' has shape {tuple(value.shape)}, "
                f"the model expects {tuple(own[key].shape)}"
            )
    missing = [n for n in saved_keys(model) if n not in state]
    if missing:
        raise UserError(f"checkpoint{where} lacks the trained tensor '{missing[0]}'; was it another run's?")
    model.load_state_dict(state, strict=False)


def merge_lora(model: torch.nn.Module) -> torch.nn.Module:
    """Fold LoRA adapters into their base weights (peft's merge, checked for non-finite values) and put the
    plain modules back, as peft's merge_and_unload does: the result has the base model's structure."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge(safe_merge=True)
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, module.get_base_layer())
    return model


def rebuild(spec: ModelSpec, state: dict, meta: dict[str, Any], source: Any, merge: bool = True):
    """The model of a partial (fine-tuned) checkpoint: the base weights from their source (sha256 checked), the
    fine-tuning structure, the trained tensors; LoRA adapters merged when `merge`."""
    from workbench.core.model.build import build_model
    from workbench.core.training.config import TrainingConfig

    cfg = TrainingConfig.model_validate(meta.get("training") or {})
    model = build_model(spec, load_weights=True)
    apply_finetune(model, spec, cfg)
    load_trained_state(model, state, source, partial=True)
    return merge_lora(model) if merge and cfg.finetune == "lora" else model
