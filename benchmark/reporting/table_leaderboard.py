"""Table leaderboards: laid out like one of the paper's tables, with the paper's numbers beside ours.

A board (``launch/board/<name>.yaml``) is a set of rows (``launch/row/<name>_*.yaml``); each row is a
method config plus the cells that describe it in the paper's table and the number the paper reports.
``python launch.py -m experiment=<name>`` runs every row; each finished run writes a small entry
``results/<preset>/_boards/<board>/<row>-seed<seed>.json`` that points at its result record, so a
record shared by two boards (full sqsp is both Table 1's last row and the ablation's row f) is
computed once. ``leaderboards/<board>_<preset>.md`` (+ ``.png``) is rendered from these entries; its
title and description are the board yaml's as it is now (each entry keeps the copy it was run with).

    python -m benchmark.reporting --board ablation --preset embedded
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from benchmark.artifacts import atomic_write_text, config_hash, save_figure
from benchmark.reporting.cells import (ANCHOR_LABELS, GENERATOR_LOCATION_KEYS, SEEDS_NOTE, Footnotes, conversion_notes, display_name,
                                       finished_time, format_cell, newest_per_seed, variant_labels)
from benchmark.reporting.records import BOARDS_DIR, load_records, record_path
from benchmark.reporting.significance import (TEST_NAME, best_and_ties, bold, ci_half_width, comparison_text,
                                              marks_note, noise_floor_text)

BOARD_CONFIGS = Path(__file__).resolve().parents[2] / "launch" / "board"
# how a board reads: read from its yaml at each render, so a fix shows on the next one
DESCRIPTIVE_KEYS = ("title", "description", "paper_note", "compare", "rows_beyond_paper")


def board_dir(results_dir: Path, preset: str, board: str) -> Path:
    return Path(results_dir) / preset / BOARDS_DIR / board


def entry_row(board: dict, record: dict) -> str:
    """The row a record fills: the board's ``row``, or with ``rows_by: generator`` (a sweep over generator
    snapshots, experiment=fid_vs_acc) one row per generator: ``<row>-<hash of its config>``."""
    if board.get("rows_by") != "generator":
        return board["row"]
    generator = {k: v for k, v in (record["config"].get("generator") or {}).items() if k not in GENERATOR_LOCATION_KEYS}
    identity = {"generator": generator, "provenance": record.get("generator_provenance")}  # a pickle's SHA-256
    return f"{board['row']}-{config_hash(identity)[:8]}"


def write_board_entry(results_dir: Path, preset: str, board: dict, record: dict) -> Path:
    """Point row ``board["row"]`` (this seed) of ``board["name"]`` at ``record``."""
    path = board_dir(results_dir, preset, board["name"]) / f"{entry_row(board, record)}-seed{record['seed']}.json"
    entry = {"board": board, "seed": record["seed"],
             "record": str(record_path(Path("."), record).relative_to(preset))}
    atomic_write_text(path, json.dumps(entry, indent=2, sort_keys=True) + "\n")
    return path


def _feature_dim(value) -> str:
    return "–" if pd.isna(value) else str(int(value))


def seed_list(group: pd.DataFrame) -> str:
    return ", ".join(str(s) for s in sorted(group.seed))


def board_frame(results_dir: Path, preset: str, board: str) -> tuple[pd.DataFrame, dict]:
    """One row per (board row, seed): the board's cells, our headline value, the paper's value."""
    rows, meta = [], {}
    for path in sorted(board_dir(results_dir, preset, board).glob("*.json")):
        entry = json.loads(path.read_text())
        record_file = Path(results_dir) / preset / entry["record"]
        if not record_file.exists():
            raise FileNotFoundError(f"board entry {path} points at {record_file}, which does not exist")
        record = json.loads(record_file.read_text())
        b = entry["board"]
        meta = b  # board-wide fields are the same in every entry
        rows.append({"order": b.get("order", 0), "row": entry_row(b, record), **b.get("columns", {}),
                     "method": record["method"], "seed": record["seed"], "task": record["task"],
                     "feature_dim": record["metrics"].get("feature_dim"),
                     "value": record["metrics"][record["headline"]], "paper": b.get("paper"), "paper_quality": b.get("paper_quality"),
                     # a probe's best validated epoch, chosen on the test split (the authors' code tracked it)
                     "best": record["metrics"].get(f"{record['headline']}_best"),
                     "headline": record["headline"], "higher_is_better": record["higher_is_better"],
                     "finished": finished_time(record), "notes": conversion_notes(record),
                     # boards of several tasks and metrics (``metrics`` in the board yaml): every metric, the
                     # poster's per metric, and the backend that produced them
                     "metrics": record["metrics"], "paper_metrics": b.get("paper_metrics") or {},
                     "backend": (record.get("task_recipe") or {}).get("backend"),
                     # boards of generator quality against accuracy (reporting/curve_leaderboard.py)
                     "quality": record.get("generator_quality"), "generator_cfg": record["config"].get("generator"),
                     "generator_provenance": record.get("generator_provenance")})
    return newest_per_seed(pd.DataFrame(rows), ["row"]), meta


def _notes(group: pd.DataFrame) -> set:
    return set().union(*group.notes)


ANCHOR_KEY = "anchor: "  # keeps an anchor's name apart from the board rows' in one significance test


def _marked(cell: str, tie: bool) -> str:
    return bold(cell) if tie else cell


def comparison_lines(df: pd.DataFrame, meta: dict) -> list[str]:
    """The board's ``compare`` pairs of rows (e.g. the SSL board's sqsp against VICReg on real images): is the
    gap significant with the first 3 seeds, and with every seed recorded?"""
    pairs = meta.get("compare") or []
    if not pairs:
        return []
    lines = ["Is the gap real? (" + TEST_NAME.split(",")[0] + ", alpha 0.05)", ""]
    for a, b in pairs:
        va, vb = df[df.row == a].sort_values("seed"), df[df.row == b].sort_values("seed")
        common = sorted(set(va.seed) & set(vb.seed))
        first3 = common[:3]
        if len(first3) == 3:
            lines.append(f"- seeds {', '.join(map(str, first3))}: " + comparison_text(
                a, list(va[va.seed.isin(first3)].value), b, list(vb[vb.seed.isin(first3)].value)))
        if list(va.seed) != first3 or list(vb.seed) != first3:
            lines.append(f"- every seed recorded ({seed_list(va) or 'none'} / {seed_list(vb) or 'none'}): "
                         + comparison_text(a, list(va.value), b, list(vb.value)))
    return lines + [""]


def render_board_markdown(df: pd.DataFrame, meta: dict, anchors: list[dict], preset: str) -> str:
    if meta.get("metrics"):
        return render_metrics_markdown(df, meta, anchors, preset)
    columns = list(meta.get("column_names", []))
    ours = f"ours: {df.task.iloc[0]} {df.headline.iloc[0]} ({preset})"
    paper = meta.get("paper_column", "paper")
    groups = df.groupby(["order", "row"], sort=True)
    best = f"best epoch ({df.headline.iloc[0]}_best, optimistic)" if df.best.notna().any() else None
    anchors = [r for r in anchors if r["task"] in set(df.task)]
    anchor_df = newest_per_seed(pd.DataFrame([  # a row per anchor, and per data when they were run on several
        {"method": label, "seed": r["seed"], "value": r["metrics"][r["headline"]],
         "feature_dim": r["metrics"].get("feature_dim"), "finished": finished_time(r), "notes": conversion_notes(r)}
        for r, label in zip(anchors, variant_labels(anchors))]), ["method"])
    anchor_groups = dict(list(anchor_df.groupby("method"))) if len(anchor_df) else {}
    _, ties = best_and_ties({**{row: list(g.value) for (_, row), g in groups},
                             **{ANCHOR_KEY + m: list(g.value) for m, g in anchor_groups.items()}},
                            bool(df.higher_is_better.iloc[0]))
    footnotes = Footnotes()
    table = []
    for (_, row), g in groups:
        first = g.iloc[0]
        mark = footnotes.mark(_notes(g))
        cells = {"row": row, **{c: first.get(c, "") for c in columns}, "method": first.method,
                 # the probe's input width: wider features make a stronger linear classifier
                 "feature dim": _feature_dim(first.feature_dim),
                 ours: _marked(format_cell(g.value), row in ties) + mark, "seeds": seed_list(g)}
        if best:
            cells[best] = format_cell(g.best.dropna()) + mark if g.best.notna().any() else "–"
        cells[paper] = "–" if pd.isna(first.paper) else f"{first.paper:.2f}"
        table.append(cells)
    for method, g in anchor_groups.items():
        table.append({"row": "anchor", **{c: "" for c in columns}, "method": display_name(method),
                      "feature dim": _feature_dim(g.feature_dim.iloc[0]),
                      ours: _marked(format_cell(g.value), ANCHOR_KEY + method in ties) + footnotes.mark(_notes(g)),
                      "seeds": seed_list(g), **({best: "–"} if best else {}), paper: "–"})
    floor = [g.value for m, g in anchor_groups.items() if m.partition(" (")[0] == "random_init"]
    lines = [
        *board_header(meta, preset),
        pd.DataFrame(table).to_markdown(index=False, disable_numparse=True),
        "",
        marks_note("table"),
        "",
        *([f"Noise floor (the random-init anchor's sample std over seeds): "
           f"{noise_floor_text(f'{df.task.iloc[0]} {df.headline.iloc[0]}', floor[0])}.", ""] if floor else []),
        *comparison_lines(df, meta),
        *footnotes.lines(),
        meta.get("paper_note", f"**{paper}** is copied from the Squeeze-and-Span poster for reference; it was measured "
                 "on another data set, generator and budget, so compare orderings, not absolute values."),
        "",
    ]
    if best:
        lines += [f"**{best}** is the best of the probe's validations (epoch 1, every few epochs and the last), "
                  "chosen on the test split as the authors' code did: an optimistic number, shown beside the "
                  "headline (the last epoch), never as it.", ""]
    return "\n".join(lines)


def board_header(meta: dict, preset: str, by: str = "benchmark/reporting/table_leaderboard.py") -> list[str]:
    name = meta["name"]
    return [f"# {meta.get('title', name)}: preset `{preset}`", "", meta.get("description", "").strip(), "",
            f"Generated by `{by}` from `results/{preset}/{BOARDS_DIR}/{name}/` and the "
            f"records they point at; do not edit by hand. Reproduce with `python launch.py -m experiment={name} "
            f"preset={preset}`; one row alone with `python launch.py row=<row config> preset={preset}`. "
            f"{SEEDS_NOTE[0].upper() + SEEDS_NOTE[1:]}.", ""]


def _metric_values(group: pd.DataFrame, metric: str) -> pd.Series:
    return pd.Series([m.get(metric) for m in group.metrics], dtype=float).dropna()


def _metric_cell(group: pd.DataFrame, metric: str) -> str:
    values = _metric_values(group, metric)
    return format_cell(values) if len(values) else "–"


def render_metrics_markdown(df: pd.DataFrame, meta: dict, anchors: list[dict], preset: str) -> str:
    """A board of several tasks (``tasks``) and metrics (``metrics``: per task, the record keys shown): a section
    per task, a line per metric, a column of ours per board row (and anchor) with the paper's number beside it
    (``paper_metrics``), then what each column is: its row config, the backend that produced it and its seeds."""
    paper = meta.get("paper_column", "paper")
    lower = set(meta.get("lower_is_better", []))
    footnotes = Footnotes()
    lines = board_header(meta, preset)
    for task in meta["tasks"]:
        rows = df[df.task == task]
        if rows.empty:
            lines += [f"## {task}", "", f"No run recorded yet (`python launch.py -m experiment={meta['name']} "
                      f"preset={preset}`).", ""]
            continue
        metrics = meta["metrics"][task]
        table = {"metric": [f"{m} {'↓' if m in lower else '↑'}" for m in metrics]}
        about = []
        ours = {}  # column -> its group of records, for the significance marks of each metric's line
        for (_, row), g in rows.groupby(["order", "row"], sort=True):
            first = g.iloc[0]
            label = " · ".join(str(first.get(c, "")) for c in meta.get("column_names", [])) or row
            mark = footnotes.mark(_notes(g))
            ours[f"{label}: ours"] = g
            table[f"{label}: ours"] = [_metric_cell(g, m) + mark for m in metrics]
            table[f"{label}: {paper}"] = ["–" if first.paper_metrics.get(m) is None else f"{first.paper_metrics[m]:.2f}"
                                          for m in metrics]
            about.append(f"- **{label}**: `row={row}` (method `{first.method}`), backend "
                         f"{first.backend or 'none named'}, seeds {seed_list(g)}")
        task_anchors = [r for r in anchors if r["task"] == task]
        anchor_df = newest_per_seed(pd.DataFrame([
            {"method": label, "seed": r["seed"], "metrics": r["metrics"], "finished": finished_time(r),
             "notes": conversion_notes(r), "backend": (r.get("task_recipe") or {}).get("backend")}
            for r, label in zip(task_anchors, variant_labels(task_anchors))]), ["method"])
        for method, g in (anchor_df.groupby("method") if len(anchor_df) else []):
            label = display_name(method)  # e.g. "random-init backbone (anchor)"
            mark = footnotes.mark(_notes(g))
            ours[f"{label}: ours"] = g
            table[f"{label}: ours"] = [_metric_cell(g, m) + mark for m in metrics]
            about.append(f"- **{label}**: the reference row, backend {g.backend.iloc[0] or 'none named'}, "
                         f"seeds {seed_list(g)}")
        floors = []
        for i, metric in enumerate(metrics):  # each metric's line is its own comparison
            values = {column: _metric_values(g, metric) for column, g in ours.items()}
            _, ties = best_and_ties({c: v for c, v in values.items() if len(v)}, metric not in lower)
            for column in ties:
                table[column][i] = bold(table[column][i])
            floor = [v for c, v in values.items() if c.startswith(ANCHOR_LABELS["random_init"])]
            if floor:
                floors.append(noise_floor_text(metric, floor[0]))
        lines += [f"## {task}", "", pd.DataFrame(table).to_markdown(index=False, disable_numparse=True), "", *about, ""]
        if floors:
            lines += ["Noise floor (the random-init anchor's sample std over seeds): " + "; ".join(floors) + ".", ""]
    lines += [marks_note("metric's line"), "", *footnotes.lines(), meta.get("paper_note", ""), ""]
    return "\n".join(lines)


def render_metrics_plot(df: pd.DataFrame, meta: dict, path: Path) -> None:
    """Ours against the paper's number for every (row, metric) of a several-task board, a panel per task, the
    metric by colour and the row by marker: agreement in ordering reads as a rising line within a panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    tasks = [t for t in meta["tasks"] if (df.task == t).any()]
    markers = dict(zip(sorted(df.row.unique()), "os^DvP*X"))
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4.4 * max(1, len(tasks)), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        colours = dict(zip(meta["metrics"][task], plt.rcParams["axes.prop_cycle"].by_key()["color"]))
        for row, g in df[df.task == task].groupby("row"):
            first = g.iloc[0]
            for metric, colour in colours.items():
                paper, ours = first.paper_metrics.get(metric), _mean(g, metric)
                if paper is not None and ours is not None:
                    ax.plot(paper, ours, markers.get(row, "o"), color=colour)
        handles = [Line2D([], [], color=c, marker="o", linestyle="", label=m) for m, c in colours.items()]
        handles += [Line2D([], [], color="grey", marker=markers[r], linestyle="", label=r)
                    for r in sorted(set(df[df.task == task].row))]
        ax.legend(handles=handles, fontsize=7, loc="best")
        ax.set_title(task, fontsize=10)
        ax.set_xlabel(meta.get("paper_column", "paper"))
        ax.set_ylabel("ours")
        ax.grid(alpha=0.3)
    fig.suptitle(meta.get("title", meta["name"]), fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def _mean(group: pd.DataFrame, metric: str):
    values = [m.get(metric) for m in group.metrics if m.get(metric) is not None]
    return sum(values) / len(values) if values else None


def render_board_plot(df: pd.DataFrame, meta: dict, path: Path) -> None:
    """Ours against the paper's number, one point per row: agreement in ordering reads as a rising line."""
    if meta.get("metrics"):
        return render_metrics_plot(df, meta, path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = df.groupby("row").agg(ours=("value", "mean"), half=("value", ci_half_width), paper=("paper", "first"),
                                  order=("order", "first"))
    stats = stats.dropna(subset=["paper"]).sort_values(["order", "paper"])
    keys = {row: str(i) for i, row in enumerate(stats.index, 1)}  # short labels beside the points, keyed below
    fig, (ax, key_ax) = plt.subplots(1, 2, figsize=(8.6, 4.6), gridspec_kw={"width_ratios": [3, 1.35]})
    ax.errorbar(stats.paper, stats.ours, yerr=stats.half.fillna(0), fmt="o", capsize=3)
    for i, (row, s) in enumerate(stats.iterrows()):  # keys above-right and below-left in turn: close points
        ax.annotate(keys[row], (s.paper, s.ours), textcoords="offset points", fontsize=8,  # keep apart
                    xytext=(5, 3) if i % 2 == 0 else (-11, -11))
    ax.set_xlabel(_wrapped(meta.get("paper_column", "paper")), fontsize=9)
    ax.set_ylabel(f"ours: {df.task.iloc[0]} {df.headline.iloc[0]} (bars: 95% interval)", fontsize=9)
    ax.margins(x=0.08, y=0.08)
    ax.grid(alpha=0.3)
    key_ax.axis("off")
    key_ax.text(0, 1, "\n".join(f"{k}  {row}" for row, k in keys.items()), va="top", fontsize=8, family="monospace",
                transform=key_ax.transAxes)
    fig.suptitle(meta.get("title", meta["name"]), fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def _wrapped(text: str, width: int = 60) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def load_board(results_dir: Path, preset: str, board: str) -> tuple[pd.DataFrame, dict, list[dict]]:
    """A board's rows (``board_frame``), its meta (the board yaml's prose as it is now) and the preset's anchor
    records."""
    df, meta = board_frame(results_dir, preset, board)
    if df.empty:
        raise FileNotFoundError(f"no entries for board {board!r} under {board_dir(results_dir, preset, board)}")
    described = BOARD_CONFIGS / f"{board}.yaml"
    if described.exists():
        current = yaml.safe_load(described.read_text())
        meta = {**meta, **{k: current[k] for k in DESCRIPTIVE_KEYS if k in current}}
    anchors = [r for r in load_records(results_dir, preset) if r["method"] in ANCHOR_LABELS]
    return df, meta, anchors


def board_kind(board: str) -> str:
    """``table`` (a paper table), or the board yaml's ``kind`` (``quality_curve``: curve_leaderboard.py)."""
    described = BOARD_CONFIGS / f"{board}.yaml"
    return (yaml.safe_load(described.read_text()) or {}).get("kind", "table") if described.exists() else "table"


def render_table_leaderboard(results_dir: Path, out_dir: Path, preset: str, board: str) -> Path:
    df, meta, anchors = load_board(results_dir, preset, board)
    path = Path(out_dir) / f"{board}_{preset}.md"
    atomic_write_text(path, render_board_markdown(df, meta, anchors, preset))
    render_board_plot(df, meta, path.with_suffix(".png"))
    return path
