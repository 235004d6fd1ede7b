"""Leaderboards rendered from result records with pandas: never edit the markdown by hand.

One table per preset (``leaderboards/<preset>.md``, plus a bar chart ``<preset>.png``): a row per
method (its seeds averaged, spread shown when there are several: n distinct seeds, a seed recorded twice
counting once with its newest record), a column per task's headline metric. The anchor rows (raw pixels,
random init) are kept at the bottom, marked as anchors. A cell whose records converted the task's images
(an RGB set shown to a 1-channel backbone in gray, a set resized away from its size) carries a mark
explained under the table.

    python -m benchmark.reporting --preset embedded
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from benchmark.artifacts import atomic_write_text, save_figure
from benchmark.reporting.cells import (SEEDS_NOTE, Footnotes, conversion_notes, display_name, finished_time,
                                       format_cell, is_anchor, newest_per_seed, variant_labels)
from benchmark.reporting.records import load_records


def records_frame(records: list[dict]) -> pd.DataFrame:
    """A row per record (the newest per method variant, task and seed), with what its evaluation converted."""
    rows = []
    for r, label in zip(records, variant_labels(records)):
        rows.append({"method": label, "task": r["task"], "seed": r["seed"],
                     "headline": f"{r['task']} {r['headline']} {'↑' if r['higher_is_better'] else '↓'}",
                     "value": r["metrics"][r["headline"]], "higher_is_better": r["higher_is_better"],
                     "steps": r["config"]["pretrain"]["steps"] if r.get("trained") else 0,
                     "gan": r.get("generator") or "-", "finished": finished_time(r), "notes": conversion_notes(r)})
    return newest_per_seed(pd.DataFrame(rows), ["method", "task"])


def render_markdown(records: list[dict], preset: str) -> str:
    if not records:
        return f"# Leaderboard: preset `{preset}`\n\nNo results recorded yet.\n"
    df = records_frame(records)
    table = df.pivot_table(index="method", columns="headline", values="value", aggfunc=format_cell)
    # rows are ranked by the task most methods have been evaluated on (a new task's column starts sparse)
    first = max(table.columns, key=lambda c: (table[c].notna().sum(), -list(table.columns).index(c)))
    means = df[df.headline == first].groupby("method")["value"].mean()
    higher = bool(df[df.headline == first]["higher_is_better"].iloc[0])
    order = sorted(table.index, key=lambda m: (is_anchor(m), -means.get(m, float("-inf")) if higher
                                                else means.get(m, float("inf"))))
    table = table.loc[order]
    notes = defaultdict(set)  # (method, headline) -> what its records' evaluations converted
    for method, headline, converted in zip(df.method, df.headline, df.notes):
        notes[method, headline].update(converted)
    footnotes = Footnotes()
    for method in order:  # marks numbered in reading order
        for headline in table.columns:
            if notes.get((method, headline)):
                table.loc[method, headline] += footnotes.mark(notes[method, headline])
    info = df.groupby("method").agg(steps=("steps", "max"), gan=("gan", "first"))
    table.insert(0, "pretraining steps", info.loc[order, "steps"].astype(int))
    table.insert(1, "generator", info.loc[order, "gan"])
    table.index = [display_name(m) for m in table.index]
    table.index.name = "method"
    table = table.fillna("–")
    lines = [
        f"# Leaderboard: preset `{preset}`",
        "",
        f"Generated from {len(records)} result records in `results/{preset}/` by `benchmark/reporting/preset_leaderboard.py`; "
        "do not edit by hand. Values are percentages (angular errors: degrees); "
        f"several seeds show mean ± sample std ({SEEDS_NOTE}).",
        "",
        table.to_markdown(disable_numparse=True),
        "",
        *footnotes.lines(),
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
    label_width = 0.07 * max(len(display_name(m)) for m in df.method.unique())  # inches for the names
    fig, axes = plt.subplots(1, len(headlines), figsize=(label_width + 4 * len(headlines), 0.5 + 0.45 * df.method.nunique()),
                             squeeze=False)
    for ax, headline in zip(axes[0], headlines):
        stats = df[df.headline == headline].groupby("method")["value"].agg(["mean", "std"]).sort_values("mean")
        colors = ["#999999" if is_anchor(m) else "#1f77b4" for m in stats.index]
        ax.barh([display_name(m) for m in stats.index], stats["mean"], xerr=stats["std"].fillna(0), color=colors)
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
