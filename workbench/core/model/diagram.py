"""The network diagram's layout, Qt-free: blocks top to bottom with their output shapes, a Residual's skip as an
arc into an add node, composites as frames that collapse, runs of identical layers folded into one block.

`layout(spec, analysis)` returns a `Diagram`: boxes, connecting edges and skip arcs in pixels (zoom 1) that a
painter draws as they are (the builder's diagram widget, its PNG and SVG exports). Folding follows TensorBoard's
series and templates (see docs/builder.md): consecutive siblings with the same signature (type, resolved
parameters, output shape, error, and for composites the signatures of their bodies) fold into "× N"; a pattern
of several layers (Conv2d → BatchNorm2d → ReLU) folds when it repeats at least three times. Groups start open,
runs start folded; a key in `toggled` flips one (`Box.toggle`). Every layer path maps to the box that shows it
(`Diagram.box_for`), and a point to the box under it (`Diagram.box_at`), so a click selects the right layer.
An imported model (a `Pretrained` layer) is drawn from the modules its analysis lists, folded the same way.
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

# ("group", a group's key) or ("repeat", its first node's key); a key is a layer path, or for a module of an
# imported model the layer path and the module's name
ToggleKey = tuple[str, tuple]


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
    module: str = ""  # an imported model's module ("model.bert.encoder.layer.0"); a click selects its layer
    params: int = 0  # parameters of everything the box shows (a folded run: all its copies)
    macs: int = 0  # multiply-accumulates per sample, the same way

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
    bands: list[tuple[float, float, float, float]] = field(default_factory=list)  # x, y, w, h: every 2nd copy

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
    """The diagram of `spec`; `analysis` (for this spec) adds shapes, resolved parameters, errors and the modules
    of imported models."""
    reports = {r.path: r for r in analysis.walk()} if analysis is not None else {}
    placer = _Placer(frozenset(toggled))
    width = max(MIN_WIDTH, width)
    x, y = MARGIN, MARGIN
    source = Box(
        "input", (), "Input", "", shape_text(spec.input_shape), x, y, width, BLOCK_H * 0.75, paths=((),)
    )
    placer.boxes.append(source)
    nodes = _layer_nodes(spec.layers, (), reports)
    bottom = placer.stack(nodes, x, source.y + source.h + GAP, width, 0, linked=source)
    right = max((b.x + b.w for b in placer.boxes), default=x + width)
    return Diagram(
        placer.boxes,
        placer.edges,
        placer.arcs,
        right + MARGIN,
        bottom + MARGIN,
        placer.where,
        placer.alias,
        placer.bands,
    )


# -- what is drawn: spec layers, and the modules of an imported model -----------------------------------------
@dataclass
class _Node:
    path: tuple[int, ...]  # the spec layer it is, or (a module) the imported layer it belongs to
    key: tuple  # unique: the layer path, or the layer path and the module's name
    type: str
    detail: str
    shape: str
    same: str  # what else must match for two nodes to fold (resolved parameters, parameter count)
    children: list[_Node] | None = None  # a group's body
    module: str = ""  # an imported model's module name ("" for a spec layer)
    status: str = ""
    message: str = ""
    skip: str | None = None  # a Residual: the skip's label
    opened: bool = True  # a group's default state
    params: int = 0  # parameters (a group: with its body)
    macs: int = 0  # multiply-accumulates per sample
    sig: int = -1


def _layer_nodes(layers: list[LayerSpec], prefix: tuple[int, ...], reports) -> list[_Node]:
    nodes = []
    for i, layer in enumerate(layers):
        path = (*prefix, i)
        report = reports.get(path)
        params = report.params if report is not None and report.params else layer.params
        node = _Node(
            path,
            path,
            layer.type,
            key_params(layer.params),
            _shape(report),
            json.dumps(params, sort_keys=True, default=str),
        )
        if report is not None:
            node.params, node.macs = report.num_params, report.macs
        if report is not None and (report.error or report.warning):
            node.status = "error" if report.error else "warning"
            node.message = report.error or report.warning or ""
        if layer.layers is not None:
            node.children = _layer_nodes(layer.layers, path, reports)
            if layer.type == "Residual":
                node.skip = _skip_text(report)
        modules = (getattr(report, "details", None) or {}).get("modules") if report is not None else None
        if layer.layers is None and modules:
            node.children = _module_nodes(modules, path)
        nodes.append(node)
    return nodes


CONTAINERS = ("ModuleList", "ModuleDict")  # lists of modules: their items are drawn in the parent's place
OPEN_DEPTH = 3  # an imported model's module groups start open to this depth (model.bert.encoder)


def _module_nodes(rows: list[dict], path: tuple[int, ...]) -> list[_Node]:
    """An imported model's modules (analysis rows in `named_modules` order) as a tree of nodes."""
    from workbench.core.units import count_text

    roots: list[_Node] = []
    nodes: dict[str, _Node] = {}
    for row in rows:
        name = str(row.get("path", ""))
        parent_name = name.rpartition(".")[0]
        while parent_name and (parent_name not in nodes or nodes[parent_name].type in CONTAINERS):
            parent_name = parent_name.rpartition(".")[0]  # a list's items go in the list's place
        parent = nodes.get(parent_name)
        siblings = parent.children if parent is not None and parent.children is not None else roots
        params = int(row.get("params") or 0)
        leaf = name.rpartition(".")[2]
        node = _Node(
            path,
            (*path, name),
            str(row.get("type", "?")),
            ", ".join(p for p in (leaf, f"{count_text(params)} params" if params else "") if p),
            shape_text(row["output_shape"]) if row.get("output_shape") else "",
            str(params),
            children=[],
            module=name,
            opened=name.count(".") + 1 <= OPEN_DEPTH,
            params=params,
            macs=int(row.get("macs") or 0),
        )
        nodes[name] = node
        if node.type not in CONTAINERS:
            siblings.append(node)
    for node in nodes.values():  # modules without submodules are plain blocks
        if not node.children:
            node.children = None
    return roots


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
    def __init__(self, toggled: frozenset):
        self.toggled = toggled
        self.ids: dict[Any, int] = {}
        self.boxes: list[Box] = []
        self.edges: list[Edge] = []
        self.arcs: list[Arc] = []
        self.bands: list[tuple[float, float, float, float]] = []
        self.last: Box | None = None  # the last box `stack` placed at its own level
        self.where: dict[tuple[int, ...], int] = {}
        self.alias: dict[tuple[int, ...], tuple[int, ...]] = {}

    def signature(self, node: _Node) -> int:
        """Equal for nodes that draw the same: type, parameters, output shape, error, and for a group its body's
        signatures (numbered as they are first seen, like TensorBoard's templates)."""
        if node.sig < 0:
            body = tuple(self.signature(c) for c in node.children) if node.children is not None else None
            key = (node.type, node.same, node.shape, node.status == "error", node.skip, body)
            node.sig = self.ids.setdefault(key, len(self.ids))
        return node.sig

    def is_open(self, node: _Node) -> bool:
        return node.opened != (("group", node.key) in self.toggled)

    def stack(self, nodes: list[_Node], x, y, w, depth, linked=None, fold=True) -> float:
        """Place sibling `nodes` top to bottom from y; returns the bottom. Each box is linked to the one before
        it by an arrow (the first to `linked`, when given)."""
        runs = {}
        if fold:
            runs = {
                start: (period, copies)
                for start, period, copies in find_runs([self.signature(n) for n in nodes])
            }
        previous = linked
        i = 0
        while i < len(nodes):
            if previous is not None:
                self.edges.append(Edge(x + w / 2, previous.y + previous.h, y))
            if i in runs:
                period, copies = runs[i]
                box = self._run(nodes[i : i + period * copies], period, copies, x, y, w, depth)
                i += period * copies
            else:
                box = self._one(nodes[i], x, y, w, depth)
                i += 1
            y = box.y + box.h + GAP
            previous = box
        self.last = previous
        return y - GAP if previous is not linked else y

    def _one(self, node: _Node, x, y, w, depth) -> Box:
        box = Box(
            "layer",
            node.path,
            node.type,
            node.detail,
            node.shape,
            x,
            y,
            w,
            BLOCK_H,
            depth,
            status=node.status,
            message=node.message,
            paths=(node.path,),
            module=node.module,
            params=node.params,
            macs=node.macs,
        )
        if not box.detail and not box.message and node.children is None:
            box.h = LINE_H
        self._add(box, () if node.module else None)
        if node.children is None:
            return box
        key: ToggleKey = ("group", node.key)
        box.kind, box.toggle = "group", key
        box.expanded = self.is_open(node)
        if not box.expanded:
            count = len(node.children)
            what = "module" if node.module or (node.children and node.children[0].module) else "layer"
            box.detail = ", ".join(p for p in (f"{count} {what}{'s' * (count != 1)}", node.skip or "") if p)
            return box
        box.frame = True
        residual = node.skip is not None
        if residual:
            box.detail = ""  # the arc carries the skip's label
        inner_w = max(MIN_WIDTH, w - PAD - (ARC_PAD if residual else PAD))
        top = y + HEADER_H + 8
        if node.children:
            bottom = self.stack(node.children, x + PAD, top, inner_w, depth + 1)
        else:
            empty = Box(
                "empty",
                node.path,
                "empty body",
                "select it and add layers",
                "",
                x + PAD,
                top,
                inner_w,
                EMPTY_H,
            )
            self.boxes.append(empty)
            bottom = top + EMPTY_H
        box.w = max(w, inner_w + PAD + (ARC_PAD if residual else PAD))
        if residual:
            join_y = bottom + JOIN_H / 2
            centre = x + PAD + inner_w / 2
            self.edges.append(Edge(centre, bottom, join_y - 8))
            self.arcs.append(Arc(x + box.w - ARC_PAD / 2, y + HEADER_H, join_y, centre, node.skip or ""))
            box.h = bottom + JOIN_H - y
        else:
            box.h = bottom + FOOTER_H - y
        return box

    def _run(self, nodes: list[_Node], period, copies, x, y, w, depth) -> Box:
        """A run of `copies` copies of a `period`-node pattern."""
        first = nodes[0]
        key: ToggleKey = ("repeat", first.key)
        unfolded = key in self.toggled
        layers = () if first.module else tuple(n.path for n in nodes)
        if not unfolded and period == 1 and (first.children is None or not self.is_open(first)):
            box = Box(
                "repeat",
                first.path,
                first.type,
                first.detail,
                nodes[-1].shape,
                x,
                y,
                w,
                BLOCK_H,
                depth,
                count=copies,
                toggle=key,
                paths=layers,
                module=first.module,
                params=sum(n.params for n in nodes),
                macs=sum(n.macs for n in nodes),
            )
            if first.children is not None:
                count = len(first.children)
                what = "module" if first.children and first.children[0].module else "layer"
                box.detail = ", ".join(
                    p for p in (f"{count} {what}{'s' * (count != 1)}", first.skip or "") if p
                )
            elif not box.detail:
                box.h = LINE_H
            self._add(box, layers)
            return box
        box = Box(
            "repeat",
            first.path,
            " → ".join(n.type for n in nodes[:period]),
            "unfolded" if unfolded else "",
            nodes[-1].shape,
            x,
            y,
            w,
            0,
            depth,
            frame=True,
            count=copies,
            toggle=key,
            expanded=unfolded,
            paths=layers,
            module=first.module,
            params=sum(n.params for n in nodes),
            macs=sum(n.macs for n in nodes),
        )
        self._add(box, layers)
        inner_w = max(MIN_WIDTH, w - 2 * PAD)
        top = y + HEADER_H + 8
        if unfolded and period > 1:  # copies one after another, every second one on a shaded band
            previous = None
            for j in range(copies):
                start = top if j == 0 else top + GAP
                bottom = self.stack(
                    nodes[j * period : (j + 1) * period], x + PAD, start, inner_w, depth + 1, previous, False
                )
                previous = self.last
                if j % 2:
                    self.bands.append(
                        (x + PAD / 2, start - GAP / 2 + 1, inner_w + PAD, bottom - start + GAP - 2)
                    )
                top = bottom
        else:
            shown = nodes if unfolded else nodes[:period]
            bottom = self.stack(shown, x + PAD, top, inner_w, depth + 1, fold=False)
        if not unfolded and not first.module:
            for j in range(1, copies):
                for offset in range(period):
                    self.alias[nodes[j * period + offset].path] = nodes[offset].path
        box.w = max(w, inner_w + 2 * PAD)
        box.h = bottom + FOOTER_H - y
        return box

    def _add(self, box: Box, paths=None) -> None:
        """Append a box; the layer paths it shows (default: its own) map to it."""
        index = len(self.boxes)
        self.boxes.append(box)
        for path in box.paths if paths is None else paths:
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
    "format": "",
    "source": "",
}
HIDDEN = ("sha256", "origin")  # long and only for the record
FILES = ("source", "weights_path")  # shown by their file or folder name
LEAD = ("out_channels", "out_features", "num_classes", "name", "d_model", "embed_dim", "output_size")


def key_params(params: dict[str, Any], limit: int = 4) -> str:
    """The arguments the user set, short: {"out_channels": 16, "kernel_size": 3} -> "16, k3"."""
    parts = [_value(params[k]) for k in LEAD if params.get(k) is not None]
    for key, value in params.items():
        if key in LEAD or key in HIDDEN or value is None or value == "" or key.startswith("_"):
            continue
        if key in FILES:
            value = str(value).replace("\\", "/").rstrip("/").rpartition("/")[2]
        prefix = SHORT.get(key, f"{key}=")
        parts.append(f"{prefix}{_value(value)}")
    return ", ".join(parts[:limit]) + (", …" if len(parts) > limit else "")


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "×".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
