"""Leaderboards rendered from result records with pandas: never edit the markdown by hand.

One table per preset (``leaderboards/<preset>.md``, plus a bar chart ``<preset>.png``): a row per
method (its seeds averaged, spread shown when there are several), a column per task's headline metric.
The anchor rows (raw pixels, random init) are kept at the bottom, marked as anchors.

    python -m benchmark.reporting --preset embedded
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.artifacts import atomic_write_text, save_figure
from benchmark.reporting.cells import ANCHOR_LABELS, format_cell, variant_labels
from benchmark.reporting.records import load_records


def records_frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r, label in zip(records, variant_labels(records)):
        rows.append({"method": label, "task": r["task"], "seed": r["seed"],
                     "headline": f"{r['task']} {r['headline']} {'↑' if r['higher_is_better'] else '↓'}",
                     "value": r["metrics"][r["headline"]], "higher_is_better": r["higher_is_better"],
                     "steps": r["config"]["pretrain"]["steps"] if r.get("trained") else 0,
                     "gan": r.get("generator") or "-"})
    return pd.DataFrame(rows)


def render_markdown(records: list[dict], preset: str) -> str:
    if not records:
        return f"# Leaderboard: preset `{preset}`\n\nNo results recorded yet.\n"
    df = records_frame(records)
    table = df.pivot_table(index="method", columns="headline", values="value", aggfunc=format_cell)
    # rows are ranked by the task most methods have been evaluated on (a new task's column starts sparse)
    first = max(table.columns, key=lambda c: (table[c].notna().sum(), -list(table.columns).index(c)))
    means = df[df.headline == first].groupby("method")["value"].mean()
    higher = bool(df[df.headline == first]["higher_is_better"].iloc[0])
    order = sorted(table.index, key=lambda m: (m in ANCHOR_LABELS, -means.get(m, float("-inf")) if higher
                                                else means.get(m, float("inf"))))
    table = table.loc[order]
    info = df.groupby("method").agg(steps=("steps", "max"), gan=("gan", "first"))
    table.insert(0, "pretraining steps", info.loc[order, "steps"].astype(int))
    table.insert(1, "generator", info.loc[order, "gan"])
    table.index = [ANCHOR_LABELS.get(m, m) for m in table.index]
    table.index.name = "method"
    table = table.fillna("–")
    lines = [
        f"# Leaderboard: preset `{preset}`",
        "",
        f"Generated from {len(records)} result records in `results/{preset}/` by `benchmark/reporting/preset_leaderboard.py`; "
        "do not edit by hand. Values are percentages (angular errors: degrees); "
        "several seeds show mean ± sample std.",
        "",
        table.to_markdown(disable_numparse=True),
        "",
        "Anchors are evaluated by the same task: the flattened pixels, and the same backbone randomly "
        "initialised and never trained.",
        "",
    ]
    return "\n".join(lines)


def render_plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = records_frame(records)
    headlines = sorted(df.headline.unique())
    label_width = 0.07 * max(len(ANCHOR_LABELS.get(m, m)) for m in df.method.unique())  # inches for the names
    fig, axes = plt.subplots(1, len(headlines), figsize=(label_width + 4 * len(headlines), 0.5 + 0.45 * df.method.nunique()),
                             squeeze=False)
    for ax, headline in zip(axes[0], headlines):
        stats = df[df.headline == headline].groupby("method")["value"].agg(["mean", "std"]).sort_values("mean")
        colors = ["#999999" if m in ANCHOR_LABELS else "#1f77b4" for m in stats.index]
        ax.barh([ANCHOR_LABELS.get(m, m) for m in stats.index], stats["mean"], xerr=stats["std"].fillna(0), color=colors)
        low = stats["mean"].min()
        ax.set_xlim(max(0.0, low - 10), min(100.0, stats["mean"].max() + 3))
        ax.set_xlabel(headline)
    fig.tight_layout()
    save_figure(fig, path)


def render_preset_leaderboard(results_dir: Path, out_dir: Path, preset: str) -> Path:
    records = load_records(results_dir, preset)
    path = Path(out_dir) / f"{preset}.md"
    atomic_write_text(path, render_markdown(records, preset))
    if records:
        render_plot(records, Path(out_dir) / f"{preset}.png")
    return path
