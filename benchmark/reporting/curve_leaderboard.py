"""Boards of generator quality against accuracy (``kind: quality_curve`` in the board yaml): a row per generator
(``rows_by: generator``), its distance to the real images (the records' ``generator_quality``), the student's
headline over seeds, and Spearman's rank correlation of the two, beside the poster's curve (``paper_curve``).

    python -m benchmark.reporting --board fid_vs_acc --preset embedded

Spearman's rho is computed twice: over the rows (each generator's mean accuracy; the claim "a better generator
makes a better student" predicts rho < 0, since a lower distance is a better generator) and over every run
(each seed a point, so the seed noise is in the test). p-values are scipy's two-sided ones; with 5-9 rows the
test has little power, which the table says by giving n.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.artifacts import atomic_write_text, save_figure
from benchmark.reporting.cells import GENERATOR_LOCATION_KEYS, format_cell
from benchmark.reporting.significance import ci_half_width
from benchmark.reporting.table_leaderboard import board_frame, board_header, load_board, seed_list


def generator_labels(df: pd.DataFrame) -> dict[str, str]:
    """A short label per row: the generator options that differ between the rows (a pickle by its file name)."""
    configs = {row: g.generator_cfg.iloc[0] or {} for row, g in df.groupby("row")}
    keys = sorted({k for c in configs.values() for k in c})
    differing = [k for k in keys if len({repr(c.get(k)) for c in configs.values()}) > 1]

    def show(key, value):
        value = Path(value).name if key in GENERATOR_LOCATION_KEYS and isinstance(value, str) else value
        return f"{key}={value}"

    return {row: ", ".join(show(k, c.get(k)) for k in differing) or row for row, c in configs.items()}


def _quality(group: pd.DataFrame) -> tuple[float, str, str]:
    """(value, measure, feature description) of a row's generator: every seed's record carries the same."""
    measured = [q for q in group.quality if q]
    if not measured:
        return math.nan, "", ""
    return float(measured[0]["value"]), measured[0]["measure"], measured[0]["feature"]


def row_labels(df: pd.DataFrame, meta: dict) -> dict[str, str]:
    """A row's name: its board columns (``column_names``, e.g. the generators board's "StyleGAN-XL"), else the
    generator options that tell the rows apart (a sweep over snapshots)."""
    columns = meta.get("column_names") or []
    if not columns:
        return generator_labels(df)
    return {row: " · ".join(str(g.iloc[0].get(c, "")) for c in columns) or row for row, g in df.groupby("row")}


def curve_table(df: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """A row per generator, in order of its quality (best first): label, quality, mean / CI / values / seeds, and
    the paper's accuracy and quality where the row carries them (``paper``, ``paper_quality``)."""
    labels = row_labels(df, meta)
    rows = []
    for row, g in df.groupby("row"):
        value, measure, feature = _quality(g)
        first = g.iloc[0]
        rows.append({"row": row, "label": labels[row], "quality": value, "measure": measure, "feature": feature,
                     "mean": g.value.mean(), "half": ci_half_width(g.value), "values": list(g.value),
                     "cell": format_cell(g.value), "seeds": seed_list(g), "n": len(g), "paper": first.get("paper"),
                     "paper_quality": first.get("paper_quality")})
    return pd.DataFrame(rows).sort_values("quality", na_position="last").reset_index(drop=True)


def spearman_lines(table: pd.DataFrame, higher_is_better: bool) -> list[str]:
    """Spearman's rho between quality and accuracy over the rows and over every run, with p-values."""
    measured = table.dropna(subset=["quality"])
    if len(measured) < 3:
        return [f"Spearman's rho needs 3 measured generators; {len(measured)} so far.", ""]
    rows = stats.spearmanr(measured.quality, measured["mean"])
    runs_x = [q for q, vs in zip(measured.quality, measured["values"]) for _ in vs]
    runs_y = [v for vs in measured["values"] for v in vs]
    runs = stats.spearmanr(runs_x, runs_y)
    better = "lower distance goes with higher accuracy" if higher_is_better else "lower distance goes with lower error"
    sign = "< 0" if higher_is_better else "> 0"

    def verdict(result):
        if result.pvalue < 0.05:
            agrees = (result.statistic < 0) == higher_is_better
            return "significant at 0.05, " + ("in the claimed direction" if agrees else "AGAINST the claim")
        return "not significant at 0.05"

    return [f"The claim ({better}) predicts rho {sign}.", "",
            f"- over the {len(measured)} generators (each one's mean): Spearman's rho = {rows.statistic:+.3f}, "
            f"p = {rows.pvalue:.3g}: {verdict(rows)}",
            f"- over all {len(runs_x)} runs (each seed a point): Spearman's rho = {runs.statistic:+.3f}, "
            f"p = {runs.pvalue:.3g}: {verdict(runs)}", ""]


def reference_values(results_dir: Path, preset: str, meta: dict) -> dict[str, pd.Series]:
    """Our counterparts of the poster's reference lines (``reference_rows``: [board, row]) that are recorded."""
    out = {}
    for name, (board, row) in (meta.get("reference_rows") or {}).items():
        try:
            other, _ = board_frame(results_dir, preset, board)
        except (FileNotFoundError, KeyError):
            continue
        if len(other) and (other.row == row).any():
            out[name] = other[other.row == row].value
    return out


def render_curve_markdown(df: pd.DataFrame, meta: dict, preset: str, references: dict) -> str:
    table = curve_table(df, meta)
    headline = f"{df.task.iloc[0]} {df.headline.iloc[0]}"
    measures = sorted({m for m in table.measure if m})
    shown = pd.DataFrame({"generator": table.label,
                          f"distance ({', '.join(measures) or 'not measured'}) ↓": [
                              "–" if math.isnan(q) else f"{q:.2f}" for q in table.quality],
                          f"ours: {headline} ({preset})": table.cell, "seeds": table.seeds})
    if table.paper_quality.notna().any():  # the paper's two numbers per row (the generators table)
        paper = meta.get("paper_column", "paper")
        shown[f"{paper}: FID"] = ["–" if pd.isna(v) else f"{v:.2f}" for v in table.paper_quality]
        shown[f"{paper}: top-1"] = ["–" if pd.isna(v) else f"{v:.2f}" for v in table.paper]
        rho = stats.spearmanr(table.paper_quality, table.paper) if table.paper_quality.notna().sum() >= 3 else None
    features = sorted({f for f in table.feature if f})
    lines = [*board_header(meta, preset, by="benchmark/reporting/curve_leaderboard.py"), shown.to_markdown(index=False, disable_numparse=True), ""]
    lines += [f"Distance: {f}." for f in features] + ([""] if features else [])
    lines += spearman_lines(table, bool(df.higher_is_better.iloc[0]))
    if table.paper_quality.notna().any() and rho is not None:
        lines += [f"On the poster's numbers: Spearman's rho (FID, top-1) = {rho.statistic:+.3f}, p = {rho.pvalue:.3g} "
                  f"(n = {table.paper_quality.notna().sum()}).", ""]
    if references:
        lines += ["Reference rows (ours, same preset): " + "; ".join(
            f"{name} {format_cell(v)}" for name, v in references.items()) + ".", ""]
    curve = meta.get("paper_curve")
    if curve:
        points = np.asarray(curve["points"], dtype=float)
        rho = stats.spearmanr(points[:, 0], points[:, 1])
        lines += [f"## {meta.get('paper_column', 'paper')}", "", f"{curve['source']}; copied, not measured by this suite.",
                  "", pd.DataFrame({curve["x"]: [f"{x:.2f}" for x in points[:, 0]],
                                    curve["y"]: [f"{y:.2f}" for y in points[:, 1]]}).to_markdown(
                      index=False, disable_numparse=True), "",
                  f"On the poster's points: Spearman's rho = {rho.statistic:+.3f}, p = {rho.pvalue:.3g} (n = "
                  f"{len(points)}). Reference lines: " + "; ".join(
                      f"{k} {v:.2f}" for k, v in (curve.get("reference_lines") or {}).items()) + ".", ""]
    lines += [f"![ours (keyed by the table's order) beside the poster's]({meta['name']}_{preset}.png)", ""]
    return "\n".join(lines)


def render_curve_plot(df: pd.DataFrame, meta: dict, references: dict, path: Path) -> None:
    """Left: ours, the distance (log scale) against the accuracy with its 95% interval, each point keyed to the
    table, our reference rows as lines. Right: the poster's curve and its reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = curve_table(df, meta).dropna(subset=["quality"])
    curve = meta.get("paper_curve")
    if not curve and table.paper_quality.notna().any():  # the paper's numbers per row, drawn as its own panel
        known = table.dropna(subset=["paper_quality"])
        curve = {"points": known[["paper_quality", "paper"]].to_numpy().tolist(), "x": "FID", "y": "top-1",
                 "labels": [str(i + 1) for i in known.index]}
    fig, axes = plt.subplots(1, 2 if curve else 1, figsize=(11 if curve else 6, 4.4), squeeze=False)
    ax = axes[0][0]
    ax.errorbar(table.quality, table["mean"], yerr=table.half.fillna(0), fmt="o-", capsize=3, color="#1f4e9c")
    for i, r in table.iterrows():  # keys above-right and below-left in turn, so close points keep theirs apart
        ax.annotate(str(i + 1), (r.quality, r["mean"]), textcoords="offset points", fontsize=8,
                    xytext=(5, 4) if i % 2 == 0 else (-11, -11))
    for (name, values), style in zip(references.items(), ("--", ":", "-.")):
        ax.axhline(values.mean(), linestyle=style, color="grey", linewidth=1, label=f"ours: {name}")
    if len(table) and (table.quality > 0).all() and table.quality.max() > 10 * table.quality.min():  # decades apart
        ax.set_xscale("log")
    measure = ", ".join(sorted({m for m in table.measure if m}))
    ax.set_xlabel(f"distance to the real images ({measure}; lower: better generator)", fontsize=9)
    ax.set_ylabel(f"ours: {df.task.iloc[0]} {df.headline.iloc[0]}", fontsize=9)
    ax.set_title("ours: " + "; ".join(f"{i + 1} {label}" for i, label in enumerate(table.label))[:110], fontsize=8)
    ax.grid(alpha=0.3)
    if references:
        ax.legend(fontsize=8, loc="lower left")
    if curve:
        ax = axes[0][1]
        points = np.asarray(curve["points"], dtype=float)
        ax.plot(points[:, 0], points[:, 1], "o" if curve.get("labels") else "o-", color="#b5472b")
        for label, (x, y) in zip(curve.get("labels") or [], points):
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        for (name, value), style in zip((curve.get("reference_lines") or {}).items(), ("--", ":", "-.")):
            ax.axhline(value, linestyle=style, color="grey", linewidth=1, label=name)
        if points[:, 0].min() > 0 and points[:, 0].max() > 10 * points[:, 0].min():
            ax.set_xscale("log")
        ax.set_xlabel(f"{curve['x']} (lower: better generator)", fontsize=9)
        ax.set_ylabel(curve["y"], fontsize=9)
        ax.set_title(meta.get("paper_column", "paper"), fontsize=9)
        ax.grid(alpha=0.3)
        if curve.get("reference_lines"):
            ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(meta.get("title", meta["name"]), fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def render_curve_leaderboard(results_dir: Path, out_dir: Path, preset: str, board: str) -> Path:
    df, meta, _ = load_board(results_dir, preset, board)
    references = reference_values(results_dir, preset, meta)
    path = Path(out_dir) / f"{board}_{preset}.md"
    atomic_write_text(path, render_curve_markdown(df, meta, preset, references))
    render_curve_plot(df, meta, references, path.with_suffix(".png"))
    return path
