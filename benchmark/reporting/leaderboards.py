"""Which leaderboards a record appears on, and rendering one of them by kind.

A leaderboard is named by a tuple ``(kind, results dir, leaderboards dir, *names)``:
- ``("preset", results, out, preset)``: ``leaderboards/<preset>.md``, every record of the preset;
- ``("suite", results, out, suite)``: ``leaderboards/<suite>.md``, a column per member of a transfer suite;
- ``("table", results, out, preset, board)``: ``leaderboards/<board>_<preset>.md``, one of the paper's tables or
  figures (a board of ``kind: quality_curve``: generator quality against accuracy).
"""
from __future__ import annotations

from pathlib import Path

from benchmark.reporting.preset_leaderboard import render_preset_leaderboard
from benchmark.reporting.suite_leaderboard import is_suite_record, render_suite_leaderboard
from benchmark.reporting.curve_leaderboard import render_curve_leaderboard
from benchmark.reporting.table_leaderboard import board_kind, render_table_leaderboard, write_board_entry


def render_board(results: Path, out: Path, preset: str, board: str) -> Path:
    """A board by its yaml's ``kind``: a paper table, or generator quality against accuracy."""
    if board_kind(board) == "quality_curve":
        return render_curve_leaderboard(results, out, preset, board)
    return render_table_leaderboard(results, out, preset, board)


RENDERERS = {"preset": render_preset_leaderboard, "suite": render_suite_leaderboard, "table": render_board}


def board_tasks(board: dict, task: str) -> list[str]:
    """The tasks a board shows: its ``tasks`` (the dense and transfer boards), else its one ``task`` (default:
    the task of the run)."""
    return list(board.get("tasks") or [board.get("task", task)])


def leaderboards_of(cfg: dict, record: dict) -> list[tuple]:
    """The leaderboards this record appears on, the preset's first. Files the record's paper-table entry
    on the way (a run of a row of ``board``, on the task that board shows)."""
    results, leaderboards = cfg["paths"]["results"], cfg["paths"]["leaderboards"]
    boards = [("preset", results, leaderboards, cfg["preset"])]
    if is_suite_record(record):  # a column per member dataset, beside the paper's reported rows
        boards.append(("suite", results, leaderboards, record["task"]))
    if cfg.get("board") and cfg["task"]["name"] in board_tasks(cfg["board"], cfg["task"]["name"]):
        write_board_entry(Path(results), cfg["preset"], cfg["board"], record)
        boards.append(("table", results, leaderboards, cfg["preset"], cfg["board"]["name"]))
    return boards


def render(leaderboard: tuple) -> Path:
    kind, results, out, *names = leaderboard
    return RENDERERS[kind](Path(results), Path(out), *names)


def refresh_leaderboards(cfg: dict, record: dict) -> Path:
    """Re-render every leaderboard this record is on; returns the paper table's if it has one, else the
    preset's."""
    boards = leaderboards_of(cfg, record)
    paths = [render(board) for board in boards]
    return paths[-1] if boards[-1][0] == "table" else paths[0]
