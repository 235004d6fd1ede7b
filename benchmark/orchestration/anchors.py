"""The anchors: reference rows evaluated beside every method on the same task (methods/anchors.py), e.g.
raw pixels and the random-init backbone. Which ones a task takes is its ``Task.anchors``."""
from __future__ import annotations

import copy

from benchmark.registry import TASKS
from benchmark.reporting.cells import ANCHOR_LABELS

ANCHOR_METHODS = tuple(ANCHOR_LABELS)


def anchor_configs(cfg: dict) -> list[dict]:
    """The anchor configs this config's task is evaluated with: none when ``anchors=false`` or when the
    config is itself an anchor."""
    if not cfg.get("anchors", True) or cfg["method"]["name"] in ANCHOR_METHODS:
        return []
    out = []
    for anchor in TASKS.get(cfg["task"]["name"]).anchors:
        anchor_cfg = copy.deepcopy(cfg)
        anchor_cfg["method"] = {"name": anchor}
        out.append(anchor_cfg)
    return out
