"""Leaderboards rendered from result records with pandas: never edit the markdown by hand.

One table per preset (``leaderboards/<preset>.md``, plus a bar chart ``<preset>.png``): a row per
method (its seeds averaged, spread shown when there are several), a column per task's headline metric.
The anchor rows (raw pixels, random init) are kept at the bottom, marked as anchors.

    python -m benchmark.leaderboard --results results --out leaderboards --preset embedded [--board ablation]
    python -m benchmark.leaderboard --suite transfer_linear
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import pandas as pd

from benchmark.artifacts import atomic_write_text, save_figure
from benchmark.results import load_records

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


def records_frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r, label in zip(records, variant_labels(records)):
        rows.append({"method": label, "task": r["task"], "seed": r["seed"],
                     "headline": f"{r['task']} {r['headline']} {'↑' if r['higher_is_better'] else '↓'}",
                     "value": r["metrics"][r["headline"]], "higher_is_better": r["higher_is_better"],
                     "steps": r["config"]["pretrain"]["steps"] if r.get("trained") else 0,
                     "gan": r.get("generator") or "-"})
    return pd.DataFrame(rows)


def format_cell(values: pd.Series) -> str:
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} (n={len(values)})"


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
        f"Generated from {len(records)} result records in `results/{preset}/` by `benchmark/leaderboard.py`; "
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


def render_leaderboard(results_dir: Path, out_dir: Path, preset: str) -> Path:
    records = load_records(results_dir, preset)
    path = Path(out_dir) / f"{preset}.md"
    atomic_write_text(path, render_markdown(records, preset))
    if records:
        render_plot(records, Path(out_dir) / f"{preset}.png")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--out", default="leaderboards")
    parser.add_argument("--preset", default="embedded")
    parser.add_argument("--board", help="render this paper-table board (benchmark/boards.py) instead")
    parser.add_argument("--suite", help="render this transfer suite's board (benchmark/suite_board.py) instead, "
                                        "e.g. transfer_linear")
    args = parser.parse_args()
    if args.suite:
        from benchmark.suite_board import render_suite_board  # builds on this module

        print(render_suite_board(Path(args.results), Path(args.out), args.suite))
    elif args.board:
        from benchmark.boards import render_board  # boards builds on this module

        print(render_board(Path(args.results), Path(args.out), args.preset, args.board))
    else:
        print(render_leaderboard(Path(args.results), Path(args.out), args.preset))


if __name__ == "__main__":
    main()
