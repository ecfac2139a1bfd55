"""A checked workflow's DAG drawn as inline SVG on the server (no JS graph library).

Layers are networkx's topological generations, drawn top to bottom; within a layer nodes are
ordered by the mean position of their parents (the barycenter heuristic) so edges cross less.
Each node is a labelled box: its id and its kind (mode name, prompt, sub-workflow, approval) plus
fan-out / loop markers; each dependency is an arrow from parent to child (one that skips a layer
swings around the right of the boxes between).
"""

from __future__ import annotations

from html import escape
from typing import Any

import networkx as nx
from markupsafe import Markup

BOX_W, BOX_H = 172, 50
GAP_X, GAP_Y = 28, 46
PAD = 16
LABEL_CHARS = 24
BYPASS = 44  # how far an edge that skips a layer swings out to the right


def kind_label(node: Any) -> str:
    """What a node runs, as the box and the node table show it."""
    kind = node.kind
    if kind == "approval":
        label = "approval"
    elif kind == "workflow":
        label = f"sub-workflow: {node.workflow}"
    elif kind == "prompt":
        label = "prompt" if node.mode_name == "llm.chat" else f"prompt ({node.mode_name})"
    else:
        label = node.mode_name or "?"
    extras = [name for name, on in (("fan-out", node.for_each), ("loop", node.loop)) if on]
    return " · ".join([label, *extras])


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Top-left corner of each node's box."""
    layers = [sorted(layer) for layer in nx.topological_generations(graph)]
    widest = max((len(layer) for layer in layers), default=1)
    width = widest * BOX_W + (widest - 1) * GAP_X
    slot: dict[str, float] = {}
    where: dict[str, tuple[float, float]] = {}
    for depth, layer in enumerate(layers):
        if depth:  # parents' mean slot first; ties keep the name order
            layer.sort(key=lambda n: sum(slot[p] for p in graph.predecessors(n)) / max(1, graph.in_degree(n)))
        span = len(layer) * BOX_W + (len(layer) - 1) * GAP_X
        left = PAD + (width - span) / 2
        for i, node in enumerate(layer):
            x = left + i * (BOX_W + GAP_X)
            slot[node] = x
            where[node] = (x, PAD + depth * (BOX_H + GAP_Y))
    return where


def dag_svg(loaded: Any, states: dict[str, str] | None = None) -> Markup:
    """The DAG of `loaded` (a LoadedWorkflow); `states` (node -> state) colours the boxes."""
    graph = loaded.graph
    where = layout(graph)
    width = max((x for x, _ in where.values()), default=0) + BOX_W + PAD + BYPASS
    height = max((y for _, y in where.values()), default=0) + BOX_H + PAD
    parts = [
        f'<svg class="dag" role="img" aria-label="workflow graph of {escape(loaded.name)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7a8699"/></marker></defs>',
    ]
    for parent, child in graph.edges:
        (px, py), (cx, cy) = where[parent], where[child]
        if cy - py > BOX_H + GAP_Y:  # skips a layer: around the right of the boxes, not through them
            x1, y1, x2, y2 = px + BOX_W, py + BOX_H / 2, cx + BOX_W + 2, cy + BOX_H / 2
            path = f"M{x1:.1f},{y1:.1f} C{x1 + BYPASS:.1f},{y1:.1f} {x2 + BYPASS:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        else:
            x1, y1, x2, y2 = px + BOX_W / 2, py + BOX_H, cx + BOX_W / 2, cy - 2
            bend = (y2 - y1) / 2
            path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}"
        parts.append(
            f'<path class="edge" data-from="{escape(parent)}" data-to="{escape(child)}" d="{path}" '
            'fill="none" stroke="#7a8699" stroke-width="1.4" marker-end="url(#arrow)"/>'
        )
    for node_id in loaded.order:
        x, y = where[node_id]
        node = loaded.nodes[node_id]
        kind = kind_label(node)
        state = (states or {}).get(node_id, "")
        parts.append(
            f'<g class="node {escape(node.kind or "")} {escape(state)}" data-node="{escape(node_id)}">'
            f"<title>{escape(node_id)}: {escape(kind)}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text x="{x + 10:.1f}" y="{y + 20:.1f}" class="id">{escape(_cut(node_id))}</text>'
            f'<text x="{x + 10:.1f}" y="{y + 38:.1f}" class="kind">{escape(_cut(kind))}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
