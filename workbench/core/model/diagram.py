"""The network diagram's layout, Qt-free: blocks top to bottom with their output shapes, a Residual's skip as an
arc into an add node, composites as frames that collapse, runs of identical layers folded into one block.

`layout(spec, analysis)` returns a `Diagram`: boxes, connecting edges and skip arcs in pixels (zoom 1) that a
painter draws as they are (the builder's diagram widget, its PNG and SVG exports). Folding follows TensorBoard's
series and templates (see docs/builder.md): consecutive siblings with the same signature (type, resolved
parameters, output shape, error, and for composites the signatures of their bodies) fold into "× N"; a pattern
of several layers (Conv2d → BatchNorm2d → ReLU) folds when it repeats at least three times. Groups start open,
runs start folded; a key in `toggled` flips one (`Box.toggle`). Every layer path maps to the box that shows it
(`Diagram.box_for`), and a point to the box under it (`Diagram.box_at`), so a click selects the right layer.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from workbench.core.model.analysis import Analysis, LayerReport
from workbench.core.model.spec import LayerSpec, ModelSpec
from workbench.core.units import shape_text

# geometry, in pixels at zoom 1
WIDTH = 300  # a top-level block
BLOCK_H = 40  # a block with a second line (key parameters, an error)
LINE_H = 28  # a block with only its type and shape
GAP = 16  # between consecutive blocks: room for the arrow
HEADER_H = 26  # a frame's title strip
PAD = 10  # a frame's left (and plain right) inner margin
ARC_PAD = 36  # a Residual frame's right margin: the skip arc runs there
JOIN_H = 34  # a Residual frame's footer: the add node where the skip joins
FOOTER_H = 10
EMPTY_H = 26
MIN_WIDTH = 150
MARGIN = 12

MAX_PERIOD = 6  # longest repeated pattern looked for
MIN_COPIES = {1: 2}  # a single layer folds from 2 copies; a pattern of several layers from 3
MIN_PATTERN_COPIES = 3

ToggleKey = tuple[str, tuple[int, ...]]  # ("group", composite path) or ("repeat", first layer path)


@dataclass
class Box:
    """One drawn box. kind: "input", "layer", "group" (a composite), "repeat" (a run of copies), "empty" (a
    composite's empty body). `frame`: drawn as a frame whose header is the top HEADER_H pixels and whose
    children are the boxes after it that lie inside; otherwise a block."""

    kind: str
    path: tuple[int, ...]  # the layer it shows (a repeat: its first layer; the input: ())
    title: str
    detail: str
    shape: str  # the output shape ("" while unknown)
    x: float
    y: float
    w: float
    h: float
    depth: int = 0
    frame: bool = False
    count: int = 1  # copies shown by this one box (a folded run)
    toggle: ToggleKey | None = None  # pass it in `layout(toggled=...)` to flip this box
    expanded: bool = False  # for a toggle: a group open / a run unfolded
    status: str = ""  # "error", "warning", or "" (fine)
    message: str = ""  # the error or warning
    paths: tuple[tuple[int, ...], ...] = ()  # every top-level layer of a run

    @property
    def label(self) -> str:
        return ".".join(map(str, self.path))

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.x + self.w and self.y <= y <= self.y + self.h

    def on_toggle(self, x: float, y: float) -> bool:
        """The toggle's hot spot: the left end of a block or of a frame's header."""
        head = HEADER_H if self.frame else self.h
        return self.toggle is not None and self.x <= x <= self.x + 24 and self.y <= y <= self.y + head


@dataclass(frozen=True)
class Edge:
    """A flow arrow from (x, y0) down to (x, y1)."""

    x: float
    y0: float
    y1: float


@dataclass(frozen=True)
class Arc:
    """A skip: it leaves the frame's header at (x, y0), runs down to y1 and joins the add node centred at
    (join_x, y1)."""

    x: float
    y0: float
    y1: float
    join_x: float
    label: str  # "identity" or the projection that matches the shapes


@dataclass
class Diagram:
    boxes: list[Box]
    edges: list[Edge]
    arcs: list[Arc]
    width: float
    height: float
    where: dict[tuple[int, ...], int] = field(default_factory=dict)  # layer path -> box index
    alias: dict[tuple[int, ...], tuple[int, ...]] = field(default_factory=dict)  # folded copy -> shown copy

    @property
    def error_box(self) -> Box | None:
        """The innermost box flagged as an error (the offending layer, or the fold / group that hides it)."""
        return next((b for b in reversed(self.boxes) if b.status == "error"), None)

    def box_for(self, path) -> Box | None:
        """The box that shows layer `path`: its own, the copy shown for a folded one, or the closed group or
        run around it."""
        path = tuple(path)
        for depth in range(1, len(path) + 1):
            shown = self.alias.get(path[:depth])
            if shown is not None:
                path = shown + path[depth:]
        for depth in range(len(path), 0, -1):
            index = self.where.get(path[:depth])
            if index is not None:
                return self.boxes[index]
        return None

    def box_at(self, x: float, y: float) -> Box | None:
        """The innermost box under a point (a frame when the point is on its header or margins)."""
        return next((b for b in reversed(self.boxes) if b.contains(x, y)), None)


def layout(
    spec: ModelSpec,
    analysis: Analysis | None = None,
    toggled: Collection[ToggleKey] = (),
    width: float = WIDTH,
) -> Diagram:
    """The diagram of `spec`; `analysis` (for this spec) adds shapes, resolved parameters and errors."""
    reports = {r.path: r for r in analysis.walk()} if analysis is not None else {}
    placer = _Placer(reports, frozenset(toggled))
    width = max(MIN_WIDTH, width)
    x, y = MARGIN, MARGIN
    source = Box(
        "input", (), "Input", "", shape_text(spec.input_shape), x, y, width, BLOCK_H * 0.75, paths=((),)
    )
    placer.boxes.append(source)
    bottom = placer.stack(spec.layers, (), x, source.y + source.h + GAP, width, 0, linked=source)
    right = max((b.x + b.w for b in placer.boxes), default=x + width)
    return Diagram(
        placer.boxes, placer.edges, placer.arcs, right + MARGIN, bottom + MARGIN, placer.where, placer.alias
    )


# -- which siblings are the same block -------------------------------------------------------------------
def find_runs(signatures: list[int]) -> list[tuple[int, int, int]]:
    """(start, period, copies) for each folded run among consecutive siblings: at each position the run that
    covers the most layers (ties: the shorter pattern); a single layer needs 2 copies, a pattern 3."""
    runs, i, n = [], 0, len(signatures)
    while i < n:
        best = (1, 1)
        for period in range(1, MAX_PERIOD + 1):
            if i + 2 * period > n:
                break
            pattern = signatures[i : i + period]
            copies = 1
            while signatures[i + copies * period : i + (copies + 1) * period] == pattern:
                copies += 1
            if copies >= MIN_COPIES.get(period, MIN_PATTERN_COPIES) and period * copies > best[0] * best[1]:
                best = (period, copies)
        if best[1] > 1:
            runs.append((i, *best))
        i += best[0] * best[1]
    return runs


# -- placing boxes -------------------------------------------------------------------------------------------
class _Placer:
    def __init__(self, reports: dict[tuple[int, ...], LayerReport], toggled: frozenset):
        self.reports = reports
        self.toggled = toggled
        self.ids: dict[Any, int] = {}
        self.sigs: dict[tuple[int, ...], int] = {}
        self.boxes: list[Box] = []
        self.edges: list[Edge] = []
        self.arcs: list[Arc] = []
        self.where: dict[tuple[int, ...], int] = {}
        self.alias: dict[tuple[int, ...], tuple[int, ...]] = {}

    def signature(self, layer: LayerSpec, path: tuple[int, ...]) -> int:
        """Equal for layers that draw the same: type, resolved parameters, output shape, error, and for a
        composite its body's signatures (numbered as they are first seen, like TensorBoard's templates)."""
        known = self.sigs.get(path)
        if known is not None:
            return known
        report = self.reports.get(path)
        params = report.params if report is not None and report.params else layer.params
        body = None
        if layer.layers is not None:
            body = tuple(self.signature(child, (*path, i)) for i, child in enumerate(layer.layers))
        key = (
            layer.type,
            json.dumps(params, sort_keys=True, default=str),
            report.output_shape if report else None,
            bool(report and report.error),
            body,
        )
        self.sigs[path] = self.ids.setdefault(key, len(self.ids))
        return self.sigs[path]

    def stack(self, layers, prefix, x, y, w, depth, linked=None, offset=0, fold=True) -> float:
        """Place `layers`, the siblings under `prefix` from index `offset`, top to bottom from y; returns the
        bottom. Each box is linked to the one before it by an arrow (the first to `linked`, when given)."""
        runs = {}
        if fold:
            sigs = [self.signature(layer, (*prefix, offset + i)) for i, layer in enumerate(layers)]
            runs = {start: (period, copies) for start, period, copies in find_runs(sigs)}
        previous = linked
        i = 0
        while i < len(layers):
            if previous is not None:
                self.edges.append(Edge(x + w / 2, previous.y + previous.h, y))
            if i in runs:
                period, copies = runs[i]
                box = self._run(layers, prefix, offset + i, i, period, copies, x, y, w, depth)
                i += period * copies
            else:
                box = self._one(layers[i], (*prefix, offset + i), x, y, w, depth)
                i += 1
            y = box.y + box.h + GAP
            previous = box
        return y - GAP if previous is not linked else y

    def _one(self, layer: LayerSpec, path, x, y, w, depth) -> Box:
        report = self.reports.get(path)
        box = Box(
            "layer",
            path,
            layer.type,
            key_params(layer.params),
            _shape(report),
            x,
            y,
            w,
            BLOCK_H,
            depth,
            paths=(path,),
        )
        if report is not None and (report.error or report.warning):
            box.status = "error" if report.error else "warning"
            box.message = report.error or report.warning or ""
        if not box.detail and not box.message and layer.layers is None:
            box.h = LINE_H
        self._add(box)
        if layer.layers is None:
            return box
        key: ToggleKey = ("group", path)
        box.kind, box.toggle = "group", key
        box.expanded = key not in self.toggled
        if not box.expanded:
            count = len(layer.layers)
            skip = _skip_text(report) if layer.type == "Residual" else ""
            box.detail = ", ".join(p for p in (f"{count} layer{'s' * (count != 1)}", skip) if p)
            return box
        box.frame = True
        residual = layer.type == "Residual"
        if residual:
            box.detail = ""  # the arc carries the skip's label
        inner_w = max(MIN_WIDTH, w - PAD - (ARC_PAD if residual else PAD))
        top = y + HEADER_H + 8
        if layer.layers:
            bottom = self.stack(layer.layers, path, x + PAD, top, inner_w, depth + 1)
        else:
            empty = Box(
                "empty", path, "empty body", "select it and add layers", "", x + PAD, top, inner_w, EMPTY_H
            )
            self.boxes.append(empty)
            bottom = top + EMPTY_H
        box.w = max(w, inner_w + PAD + (ARC_PAD if residual else PAD))
        if residual:
            join_y = bottom + JOIN_H / 2
            centre = x + PAD + inner_w / 2
            self.edges.append(Edge(centre, bottom, join_y - 8))
            self.arcs.append(Arc(x + box.w - ARC_PAD / 2, y + HEADER_H, join_y, centre, _skip_text(report)))
            box.h = bottom + JOIN_H - y
        else:
            box.h = bottom + FOOTER_H - y
        return box

    def _run(self, layers, prefix, start, at, period, copies, x, y, w, depth) -> Box:
        """A run of `copies` copies of a `period`-layer pattern: layer `start` under `prefix`, `layers[at]`."""
        key: ToggleKey = ("repeat", (*prefix, start))
        unfolded = key in self.toggled
        members = [(*prefix, start + j * period) for j in range(copies)]
        pattern = layers[at : at + period]
        first = pattern[0]
        last = self.reports.get((*prefix, start + copies * period - 1))
        paths = tuple((*prefix, start + j) for j in range(period * copies))
        if not unfolded and period == 1 and first.layers is None:
            box = Box(
                "repeat",
                members[0],
                first.type,
                key_params(first.params),
                _shape(last),
                x,
                y,
                w,
                BLOCK_H,
                depth,
                count=copies,
                toggle=key,
                paths=paths,
            )
            if not box.detail:
                box.h = LINE_H
            self._add(box, paths)
            return box
        title = " → ".join(layer.type for layer in pattern)
        box = Box(
            "repeat",
            members[0],
            title,
            "unfolded" if unfolded else "",
            _shape(last),
            x,
            y,
            w,
            0,
            depth,
            frame=True,
            count=copies,
            toggle=key,
            expanded=unfolded,
            paths=paths,
        )
        self._add(box, paths)
        inner_w = max(MIN_WIDTH, w - 2 * PAD)
        shown = layers[at : at + (period * copies if unfolded else period)]
        bottom = self.stack(shown, prefix, x + PAD, y + HEADER_H + 8, inner_w, depth + 1, None, start, False)
        if not unfolded:
            for j in range(1, copies):
                for offset in range(period):
                    self.alias[(*prefix, start + j * period + offset)] = (*prefix, start + offset)
        box.w = max(w, inner_w + 2 * PAD)
        box.h = bottom + FOOTER_H - y
        return box

    def _add(self, box: Box, paths=None) -> None:
        index = len(self.boxes)
        self.boxes.append(box)
        for path in paths or (box.path,):
            self.where[path] = index


def _shape(report: LayerReport | None) -> str:
    return shape_text(report.output_shape) if report is not None and report.output_shape else ""


def _skip_text(report: LayerReport | None) -> str:
    """How a Residual's skip reaches the add: as it is, or through a projection that matches the shapes."""
    if report is None or report.input_shape is None or report.output_shape is None:
        return "skip"
    from workbench.core.model.layers_composite import projection

    proj = projection(report.input_shape, report.output_shape)
    if proj is None:
        return "identity skip"
    kind, kw = proj
    if kind == "Conv2d":
        return f"1×1 conv skip, stride {kw['stride']}" if kw["stride"] != 1 else "1×1 conv skip"
    return f"{kind} skip" if kind else "skip"


SHORT = {
    "kernel_size": "k",
    "stride": "s",
    "padding": "p",
    "dilation": "d",
    "groups": "g",
    "p": "p=",
    "nhead": "heads ",
    "num_heads": "heads ",
    "dim_feedforward": "ff ",
    "hidden_size": "h",
    "embedding_dim": "d",
    "num_embeddings": "vocab ",
    "num_groups": "g",
    "patch_size": "patch ",
    "kind": "",
    "mode": "",
    "activation": "",
}
LEAD = ("out_channels", "out_features", "num_classes", "name", "d_model", "embed_dim", "output_size")


def key_params(params: dict[str, Any], limit: int = 4) -> str:
    """The arguments the user set, short: {"out_channels": 16, "kernel_size": 3} -> "16, k3"."""
    parts = [_value(params[k]) for k in LEAD if params.get(k) is not None]
    for key, value in params.items():
        if key in LEAD or value is None or key.startswith("_"):
            continue
        prefix = SHORT.get(key, f"{key}=")
        parts.append(f"{prefix}{_value(value)}")
    return ", ".join(parts[:limit]) + (", …" if len(parts) > limit else "")


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "×".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
