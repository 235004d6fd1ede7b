"""Boards of generator quality against accuracy (benchmark/reporting/curve_leaderboard.py) from hand-written
records: a row per generator snapshot, the distance beside the accuracy over seeds, Spearman's rho as scipy
gives it, the poster's curve beside ours, and our reference rows from another board."""
from __future__ import annotations

import numpy as np
import yaml
from scipy import stats

from benchmark.reporting.leaderboards import render
from benchmark.reporting.records import write_record
from benchmark.reporting.table_leaderboard import write_board_entry
from tests.helpers.launching import REPO

FID_VS_ACC = yaml.safe_load((REPO / "launch" / "board" / "fid_vs_acc.yaml").read_text())
SNAPSHOTS = {50: (900.0, [70.0, 71.0, 69.5]), 200: (400.0, [75.0, 74.0, 76.5]), 700: (150.0, [80.0, 81.5, 80.5]),
             1400: (120.0, [79.0, 82.0, 81.0])}


def record(steps, seed, top1, distance):
    quality = {"measure": "fd_classifier", "value": distance, "samples": 10000, "real_images": 10000,
               "feature": "Fréchet distance in the features of the suite's Fashion-MNIST classifier; not an FID"}
    return {"method": "sqsp", "task": "linear_fmnist", "preset": "embedded", "seed": seed, "headline": "top1",
            "higher_is_better": True, "metrics": {"top1": top1}, "trained": True, "generator": "small_gan",
            "generator_quality": quality, "run_hash": f"s{steps}x{seed}",
            "config": {"method": {"name": "sqsp"}, "generator": {"name": "small_gan", "steps": steps, "seed": 0}}}


def test_a_row_per_snapshot_with_its_distance_accuracy_and_spearman(tmp_path):
    results = tmp_path / "results"
    for steps, (distance, top1s) in SNAPSHOTS.items():
        for seed, top1 in enumerate(top1s):
            rec = record(steps, seed, top1, distance)
            write_record(results, rec)
            write_board_entry(results, "embedded", {**FID_VS_ACC, "row": "snapshot", "order": 1}, rec)
    for seed, top1 in enumerate([82.0, 82.5, 82.8]):  # our counterpart of the poster's "VICReg (Real)" line
        rec = {**record(0, seed, top1, 0.0), "method": "vicreg", "run_hash": f"v{seed}", "generator_quality": None}
        write_record(results, rec)
        write_board_entry(results, "embedded", {"name": "ssl", "row": "ssl_vicreg_real", "order": 2}, rec)

    path = render(("table", results, tmp_path / "lb", "embedded", "fid_vs_acc"))
    text = path.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| steps=")]
    # best generator (lowest distance) first, each with its distance and its seeds' mean ± 95% interval
    assert [r.split("|")[1].strip() for r in rows] == ["steps=1400", "steps=700", "steps=200", "steps=50"]
    assert "| 120.00 " in rows[0] and "80.67 ± " in rows[0] and "(n=3)" in rows[0] and "0, 1, 2" in rows[0]
    distances = [d for d, _ in SNAPSHOTS.values()]
    means = [np.mean(t) for _, t in SNAPSHOTS.values()]
    over_rows = stats.spearmanr(distances, means)
    over_runs = stats.spearmanr([d for d, t in SNAPSHOTS.values() for _ in t], [v for _, t in SNAPSHOTS.values() for v in t])
    assert (f"over the 4 generators (each one's mean): Spearman's rho = {over_rows.statistic:+.3f}, "
            f"p = {over_rows.pvalue:.3g}") in text
    assert f"over all 12 runs (each seed a point): Spearman's rho = {over_runs.statistic:+.3f}" in text
    assert over_runs.pvalue < 0.05 and "significant at 0.05, in the claimed direction" in text
    assert "not an FID" in text and "Reference rows (ours, same preset): VICReg (Real) 82.43 ± " in text
    assert "On the poster's points: Spearman's rho = -0.983" in text and "87.51" in text  # the poster's curve
    assert path.with_suffix(".png").stat().st_size > 0


def test_too_few_measured_generators_are_said_so(tmp_path):
    results = tmp_path / "results"
    for steps in (50, 700):
        rec = record(steps, 0, 70.0 + steps / 100, 100.0 + steps)
        write_record(results, rec)
        write_board_entry(results, "embedded", {**FID_VS_ACC, "row": "snapshot", "order": 1}, rec)
    text = render(("table", results, tmp_path / "lb", "embedded", "fid_vs_acc")).read_text()
    assert "Spearman's rho needs 3 measured generators; 2 so far." in text
