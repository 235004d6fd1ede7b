"""Leaderboard rendering from hand-written records."""
from __future__ import annotations

import json

from benchmark.reporting.preset_leaderboard import render_preset_leaderboard, render_markdown


def record(method, seed, top1, trained=True):
    return {"method": method, "task": "linear_fmnist", "preset": "embedded", "seed": seed, "headline": "top1",
            "higher_is_better": True, "metrics": {"top1": top1}, "trained": trained,
            "generator": "small_gan" if trained else None, "timings": {"pretrain": 10.0},
            "config": {"pretrain": {"steps": 400}}, "run_hash": f"{method}{seed}"}


def write(results, rec):
    path = results / rec["preset"] / rec["task"] / f"{rec['method']}-{rec['run_hash']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))


def test_render(tmp_path):
    results = tmp_path / "results"
    for rec in (record("sqsp", 0, 86.0), record("sqsp", 1, 88.0), record("squeeze", 0, 84.5),
                record("raw_pixels", 0, 90.0, trained=False), record("random_init", 0, 80.25, trained=False)):
        write(results, rec)
    other = record("sqsp", 0, 11.0)
    other["preset"] = "smoke"
    write(results, other)

    path = render_preset_leaderboard(results, tmp_path / "boards", "embedded")
    text = path.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    keys, names = [r.split("|")[1].strip() for r in rows], [r.split("|")[2].strip() for r in rows]
    # methods by score, then the anchors whatever their score, each keyed for the figure
    assert names == ["sqsp", "squeeze", "raw pixels (anchor)", "random-init backbone (anchor)"]
    assert keys == ["R1", "R2", "A1", "A2"]
    assert "**87.00 ± 12.71 (n=2)**" in rows[0]  # the only row of 2 seeds is the best one
    assert "84.50" in rows[1] and "80.25" in rows[3]
    assert "11.00" not in text  # another preset's record stays out
    assert "5 result records" in text
    assert (tmp_path / "boards" / "embedded.png").stat().st_size > 0


def test_render_empty(tmp_path):
    text = render_preset_leaderboard(tmp_path / "none", tmp_path / "boards", "embedded").read_text()
    assert "No results recorded yet" in text


def test_variants_of_one_method_get_their_own_rows(tmp_path):
    records = [record("squeeze", 0, 80.0), record("squeeze", 0, 10.0), record("sqsp", 0, 82.0)]
    records[0]["config"]["method"] = {"name": "squeeze", "mu_var": 25.0, "alpha": 1.0}
    records[1]["config"]["method"] = {"name": "squeeze", "mu_var": 0.0, "alpha": 1.0}
    records[1]["run_hash"] = "other"
    text = render_markdown(records, "embedded")
    assert "squeeze (mu_var=25.0)" in text and "squeeze (mu_var=0.0)" in text
    assert "| sqsp " in text  # a method with one variant keeps its plain name
