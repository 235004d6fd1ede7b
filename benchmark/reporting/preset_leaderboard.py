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
from benchmark.reporting.significance import best_and_ties, bold, ci_half_width, marks_note, noise_floor_text


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


def _order(df: pd.DataFrame, methods) -> tuple[list[str], str]:
    """Rows ranked by the task most methods have been evaluated on (a new task's column starts sparse), the
    anchors last; and that column's name."""
    counts = df.groupby("headline")["method"].nunique()
    headlines = sorted(df.headline.unique())
    first = max(headlines, key=lambda c: (counts[c], -headlines.index(c)))
    means = df[df.headline == first].groupby("method")["value"].mean()
    higher = bool(df[df.headline == first]["higher_is_better"].iloc[0])
    order = sorted(methods, key=lambda m: (is_anchor(m), -means.get(m, float("-inf")) if higher
                                           else means.get(m, float("inf"))))
    return order, first


def row_keys(order: list[str]) -> dict[str, str]:
    """Short names keyed to the table, for the figure: R1, R2, ... in table order, A1, A2 for the anchors."""
    keys, counts = {}, {"R": 0, "A": 0}
    for m in order:
        prefix = "A" if is_anchor(m) else "R"
        counts[prefix] += 1
        keys[m] = f"{prefix}{counts[prefix]}"
    return keys


def column_ties(df: pd.DataFrame) -> dict[str, set]:
    """Per headline, the rows not distinguishable from its best one (significance.best_and_ties)."""
    ties = {}
    for headline, g in df.groupby("headline"):
        groups = {m: list(v) for m, v in g.groupby("method")["value"]}
        ties[headline] = best_and_ties(groups, bool(g.higher_is_better.iloc[0]))[1]
    return ties


def noise_floor_lines(df: pd.DataFrame) -> list[str]:
    """A line per task: the random-init anchor's spread over seeds."""
    anchor = df[df.method.map(lambda m: m.partition(" (")[0] == "random_init")]
    if anchor.empty:
        return []
    parts = [noise_floor_text(h, anchor[anchor.headline == h].value) for h in sorted(df.headline.unique())
             if (anchor.headline == h).any()]
    return ["Noise floor (the random-init anchor's sample std over seeds; a gap smaller than it is within what the "
            "seed alone moves an untrained backbone): " + "; ".join(parts) + ".", ""]


def render_markdown(records: list[dict], preset: str) -> str:
    if not records:
        return f"# Leaderboard: preset `{preset}`\n\nNo results recorded yet.\n"
    df = records_frame(records)
    table = df.pivot_table(index="method", columns="headline", values="value", aggfunc=format_cell)
    order, _ = _order(df, table.index)
    table = table.loc[order]
    ties = column_ties(df)
    for headline in table.columns:
        for method in order:
            if method in ties[headline]:
                table.loc[method, headline] = bold(table.loc[method, headline])
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
    keys = row_keys(order)
    table.insert(0, "method", [display_name(m) for m in order])
    table.index = [keys[m] for m in order]  # the figure names rows by these keys
    table.index.name = "key"
    table = table.fillna("–")
    lines = [
        f"# Leaderboard: preset `{preset}`",
        "",
        f"Generated from {len(records)} result records in `results/{preset}/` by `benchmark/reporting/preset_leaderboard.py`; "
        "do not edit by hand. Values are percentages (angular errors: degrees); "
        f"{SEEDS_NOTE}.",
        "",
        table.to_markdown(disable_numparse=True),
        "",
        marks_note(),
        "",
        *noise_floor_lines(df),
        *footnotes.lines(),
        "Anchors are evaluated by the same task: the flattened pixels, and the same backbone randomly "
        "initialised and never trained.",
        "",
        f"![every cell of the table as a point with its 95% interval, rows by their key]({preset}.png)",
        "",
    ]
    return "\n".join(lines)


def render_plot(records: list[dict], path: Path) -> None:
    """A panel per task, a row per table row (its key and a short name, in table order): the mean as a point,
    the 95% interval as a bar, the best row and those not distinguishable from it filled, the anchors grey,
    and the random-init anchor's mean ± std shaded as the noise floor. Fits 30+ rows: a row is 0.26 in high."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = records_frame(records)
    headlines = sorted(df.headline.unique())
    order, _ = _order(df, df.method.unique())
    keys, ties = row_keys(order), column_ties(df)
    names = [f"{keys[m]}  {_short(display_name(m))}" for m in order]
    position = {m: i for i, m in enumerate(order)}
    fig, axes = plt.subplots(1, len(headlines), figsize=(2.6 + 3.2 * len(headlines), 1.2 + 0.26 * len(order)),
                             sharey=True, squeeze=False)
    for ax, headline in zip(axes[0], headlines):
        g = df[df.headline == headline]
        anchor = g[g.method.map(lambda m: m.partition(" (")[0] == "random_init")].value
        if len(anchor) >= 2:
            ax.axvspan(anchor.mean() - anchor.std(), anchor.mean() + anchor.std(), color="#dddddd", zorder=0,
                       label="random-init anchor ± std (noise floor)")
        for method, values in g.groupby("method")["value"]:
            y, mean, half = position[method], values.mean(), ci_half_width(values)
            colour = "#888888" if is_anchor(method) else "#1f4e9c"
            filled = method in ties[headline]
            ax.errorbar(mean, y, xerr=0 if half != half else half, fmt="o", color=colour, ecolor=colour, capsize=2,
                        markersize=5, markerfacecolor=colour if filled else "white", zorder=2)
        ax.set_xlabel(headline, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0][0].set_yticks(range(len(order)), names, fontsize=8)
    axes[0][0].set_ylim(len(order) - 0.5, -0.5)
    fig.suptitle("filled: best row or not distinguishable from it (Welch, p ≥ 0.05); bars: 95% interval over seeds; "
                 "shaded: noise floor", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def _short(name: str, width: int = 34) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def render_preset_leaderboard(results_dir: Path, out_dir: Path, preset: str) -> Path:
    records = load_records(results_dir, preset)
    path = Path(out_dir) / f"{preset}.md"
    atomic_write_text(path, render_markdown(records, preset))
    if records:
        render_plot(records, Path(out_dir) / f"{preset}.png")
    return path
