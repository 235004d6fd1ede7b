"""What every kind of leaderboard shares: the anchors' row names, a method's row name, one cell's text, the
seeds a cell counts (distinct: a seed recorded twice counts once, its newest record), and the marks and
footnotes of cells whose records converted the evaluation images (a record's ``evaluation_images``)."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from typing import Iterable, Optional

import pandas as pd

from benchmark.reporting.significance import ci_half_width

# the reference rows of methods/anchors.py, kept at the bottom of every leaderboard
ANCHOR_LABELS = {"raw_pixels": "raw pixels (anchor)", "random_init": "random-init backbone (anchor)"}


# where data lives, which tells no two runs apart (benchmark/orchestration/identity.DATA_LOCATION_KEYS)
DATA_LOCATION_KEYS = ("root", "cache_dir", "download")


# where a generator's weights come from, which tells no two generators apart (their content is what counts)
GENERATOR_LOCATION_KEYS = ("url", "download", "checkpoint", "pickle", "expected_file", "root", "cache_dir")


def _row_options(record: dict) -> dict:
    """What tells two records of one method apart on a leaderboard: its options, the data it was run with
    (which fixes the images it was shown, an anchor's included) and the generator it learnt from (e.g. the
    fid_vs_acc snapshots: ``generator.steps=200``)."""
    config = record["config"]
    options = {k: v for k, v in (config.get("method") or {}).items() if k != "name"}
    options.update({f"data.{k}": v for k, v in (config.get("data") or {}).items() if k not in DATA_LOCATION_KEYS})
    generator = config.get("generator") or {}
    options.update({"generator" if k == "name" else f"generator.{k}": v for k, v in generator.items()
                    if k not in GENERATOR_LOCATION_KEYS})
    return options


def variant_labels(records: list[dict]) -> list[str]:
    """A row name per record: the method's name, plus the options that tell its variants apart when
    records of one method were run with different options (e.g. the ablation's squeeze rows) or on other
    data (e.g. ``data.name=cifar10_in_memory``: RGB images, where the others were shown Fashion-MNIST's gray)."""
    options = [_row_options(r) for r in records]
    by_method = defaultdict(list)
    for r, opts in zip(records, options):
        by_method[r["method"]].append(opts)
    differing = {m: sorted(k for k in set().union(*opts) if len({json.dumps(o.get(k)) for o in opts}) > 1)
                 for m, opts in by_method.items()}
    return [r["method"] + (" (" + ", ".join(f"{k}={opts.get(k)}" for k in differing[r["method"]]) + ")"
                           if differing[r["method"]] else "") for r, opts in zip(records, options)]


def is_anchor(label: str) -> bool:
    """Whether a row name (``variant_labels``) is an anchor's."""
    return label.partition(" (")[0] in ANCHOR_LABELS


def display_name(label: str) -> str:
    """A row name as the leaderboards print it: an anchor's spelled out ("raw pixels (anchor)"), with its
    variant's options after it."""
    method, _, variant = label.partition(" (")
    if method not in ANCHOR_LABELS:
        return label
    return ANCHOR_LABELS[method] + (f" ({variant}" if variant else "")


def format_cell(values: pd.Series) -> str:
    """One value, or mean ± the 95% confidence interval's half-width over n values, one per distinct seed
    (``newest_per_seed``; reporting/significance.py states the convention)."""
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {ci_half_width(values):.2f} (n={len(values)})"


SEEDS_NOTE = ("several seeds show mean ± the half-width of its 95% confidence interval (Student's t, n − 1 degrees "
              "of freedom; n: distinct seeds, a seed recorded twice counts once, with its newest record)")


def finished_time(record: dict) -> datetime:
    """When a record was written (``finished_at``); the earliest time when it does not say."""
    try:
        finished = datetime.strptime(record.get("finished_at") or "", "%Y-%m-%dT%H:%M:%S%z")
    except (ValueError, TypeError):
        return datetime.min
    return finished.astimezone(timezone.utc).replace(tzinfo=None)


def newest_per_seed(df: pd.DataFrame, cell: list[str]) -> pd.DataFrame:
    """The rows of ``df`` (a frame with ``seed`` and ``finished``) with one row per ``cell`` columns and seed: the
    newest. So a cell's n is its number of distinct seeds, and a seed evaluated twice (an anchor re-run by a
    setting that cannot change it) does not read as two."""
    if df.empty:
        return df
    order = df.sort_values("finished", kind="stable")
    return order.drop_duplicates([*cell, "seed"], keep="last").sort_index()


# ------------------------------------------------------------------------------------ converted images
def _format_text(images: dict, native: bool) -> str:
    size = images["size"]
    size = "of variable size" if size == "variable" else f"{size} px"
    if not native:
        return f"{images['channels']}-channel {size}"
    kind = {"RGB": "RGB", "L": "grayscale"}.get(images["mode"], f"{images['channels']}-channel")
    return f"{kind} {size}"


def conversion_note(entry: dict) -> str:
    """The footnote of one converted dataset, e.g. 'evaluated as 1-channel 32 px; cifar10 is RGB 32 px'."""
    return (f"evaluated as {_format_text(entry['used'], native=False)}; {entry['dataset']} is "
            f"{_format_text(entry['native'], native=True)}")


def conversion_notes(record: dict, member: Optional[str] = None) -> tuple[str, ...]:
    """The footnotes of what this record's evaluation converted (none for a record from before
    ``evaluation_images`` existed); a suite's: every member's, or ``member``'s alone."""
    images = record.get("evaluation_images")
    if not images:
        return ()
    if "members" in images:
        members = images["members"]
        entries = [members.get(member)] if member is not None else list(members.values())
    else:
        entries = [images]
    return tuple(sorted({conversion_note(e) for e in entries if e and e.get("converted")}))


class Footnotes:
    """Marks for the cells of one table, a symbol per distinct conversion note in the order they are first
    asked for, and the footnotes that explain them."""

    SYMBOLS = ("†", "‡", "§", "¶", "#")

    def __init__(self):
        self.symbols: dict[str, str] = {}

    def mark(self, notes: Iterable[str]) -> str:
        """' †' (a space and one symbol per note) for a cell whose records carry ``notes``; '' for none."""
        marks = []
        for note in sorted(set(notes)):
            if note not in self.symbols:
                n = len(self.symbols)
                self.symbols[note] = self.SYMBOLS[n % len(self.SYMBOLS)] * (n // len(self.SYMBOLS) + 1)
            marks.append(self.symbols[note])
        return " " + "".join(marks) if marks else ""

    def lines(self) -> list[str]:
        """Markdown under the table (nothing when no cell is marked)."""
        if not self.symbols:
            return []
        return ["Marked cells: the evaluation converted the task's images for the backbone (a record's "
                "`evaluation_images`), so they are not the dataset's own:", "",
                *(f"- {symbol} {note}" for note, symbol in self.symbols.items()), ""]
