"""What every kind of leaderboard shares: the anchors' row names, a method's row name, one cell's text."""
from __future__ import annotations

import json
from collections import defaultdict

import pandas as pd

# the reference rows of methods/anchors.py, kept at the bottom of every leaderboard
ANCHOR_LABELS = {"raw_pixels": "raw pixels (anchor)", "random_init": "random-init backbone (anchor)"}


def variant_labels(records: list[dict]) -> list[str]:
    """A row name per record: the method's name, plus the options that tell its variants apart when
    records of one method were run with different options (e.g. the ablation's squeeze rows)."""
    options = [{k: v for k, v in r["config"].get("method", {}).items() if k != "name"} for r in records]
    by_method = defaultdict(list)
    for r, opts in zip(records, options):
        by_method[r["method"]].append(opts)
    differing = {m: sorted(k for k in set().union(*opts) if len({json.dumps(o.get(k)) for o in opts}) > 1)
                 for m, opts in by_method.items()}
    return [r["method"] + (" (" + ", ".join(f"{k}={opts.get(k)}" for k in differing[r["method"]]) + ")"
                           if differing[r["method"]] else "") for r, opts in zip(records, options)]


def format_cell(values: pd.Series) -> str:
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} (n={len(values)})"
