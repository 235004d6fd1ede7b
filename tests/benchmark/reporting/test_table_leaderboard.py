"""Boards: every row config composes into a valid run; entries point at records; the rendered table
puts the paper's numbers beside ours; a sweep of rows runs end to end and resumes."""
from __future__ import annotations


import pytest
from hydra import compose, initialize_config_dir

from benchmark.reporting.table_leaderboard import render_table_leaderboard, write_board_entry
from benchmark.orchestration.identity import method_config
from benchmark.registry import METHODS
from benchmark.reporting.records import load_records, write_record
from tests.helpers.launching import REPO, launch, real_fmnist_or_skip

ROWS = sorted(p.stem for p in (REPO / "launch" / "row").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (REPO / "launch" / "experiment").glob("*.yaml"))


def compose_cfg(*overrides):
    from omegaconf import OmegaConf, open_dict

    with initialize_config_dir(str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        params = cfg.hydra.sweeper.params
        sweep = OmegaConf.to_container(params) if params else {}
        with open_dict(cfg):
            del cfg["hydra"]
        return OmegaConf.to_container(cfg, resolve=True), sweep


@pytest.mark.parametrize("row", ROWS)
def test_every_row_is_a_valid_run_of_its_board(row):
    cfg, _ = compose_cfg(f"row={row}", "preset=smoke")
    board = cfg["board"]
    if board.get("rows_by") == "generator":  # a row per generator the sweep gives it (fid_vs_acc's snapshots)
        assert row == board["name"] and board["kind"] == "quality_curve"
        assert all(len(point) == 2 for point in board["paper_curve"]["points"])
        method_config(cfg, METHODS.get(cfg["method"]["name"]))
        return
    assert board["row"] == row and row.startswith(board["name"] + "_")
    assert set(board["columns"]) == set(board["column_names"])
    if board.get("kind") == "quality_curve":  # the generators table: the poster's FID beside its top-1
        assert isinstance(board["paper_quality"], float)
    if "paper_by_dataset" in board:  # a number per data set (table2); none for a data set the poster did not report
        assert all(isinstance(v, float) for v in board["paper_by_dataset"].values())
        assert board["paper"] == board["paper_by_dataset"].get(cfg["task"].get("dataset"))
    elif "paper_by_preset" in board:  # every metric of the poster's dense / transfer tables, per ImageNet preset
        assert board["paper_metrics"] is None  # the smoke preset is not one the poster reports
        assert cfg["task"]["name"] in board["tasks"]
        for preset in ("imagenet100", "imagenet"):
            at_scale, _ = compose_cfg(f"row={row}", f"preset={preset}")
            paper = at_scale["board"]["paper_metrics"]
            assert list(paper) == board["metrics"][cfg["task"]["name"]]
            assert all(isinstance(v, float) for v in paper.values())
    else:  # a row the poster's table lacks has no number, and its board says so
        assert isinstance(board["paper"], float) or (board["paper"] is None and row in board["rows_beyond_paper"])
    method_config(cfg, METHODS.get(cfg["method"]["name"]))  # every option is one the method has


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_sweeps_existing_rows(experiment):
    cfg, sweep = compose_cfg(f"experiment={experiment}")
    if cfg["analysis"]["name"]:  # an analysis of the generator (experiment=umap): no row, no sweep
        assert not sweep and cfg["analysis"]["name"] == experiment
        return
    rows = sweep["row"].split(",")
    assert rows and set(rows) <= set(ROWS)
    assert all(r.startswith(experiment + "_") or r == experiment for r in rows)


def test_ablation_rows_switch_what_the_poster_says():
    cfgs = {r: compose_cfg(f"row=ablation_{r}")[0]["method"] for r in "abcdef"}
    assert cfgs["a"]["name"] == cfgs["b"]["name"] == "distill" and not cfgs["a"]["augment"] and cfgs["b"]["augment"]
    weights = {r: (c.get("lambda_rd"), c.get("mu_var"), c.get("nu_cov")) for r, c in cfgs.items()}
    assert weights["c"] == (1.0, 0.0, 0.0) and weights["d"] == (25.0, 25.0, 0.0) and weights["e"] == (25.0, 25.0, 1.0)
    assert cfgs["e"]["name"] == "squeeze" and cfgs["f"]["name"] == "sqsp" and cfgs["f"]["alpha"] == 0.5


def record(method, seed, top1, run_hash):
    return {"method": method, "task": "linear_fmnist", "preset": "embedded", "seed": seed, "headline": "top1",
            "higher_is_better": True, "metrics": {"top1": top1}, "trained": True, "generator": "small_gan",
            "config": {"pretrain": {"steps": 400}, "method": {"name": method}}, "run_hash": run_hash}


def board(name, row, order, paper):
    return {"name": name, "title": f"{name} title", "description": "about it", "column_names": ["source"],
            "paper_column": "poster: CIFAR-10", "row": row, "order": order, "columns": {"source": row.upper()},
            "paper": paper}


def test_board_renders_ours_beside_the_paper(tmp_path):
    results = tmp_path / "results"
    for seed, top1 in [(0, 80.0), (1, 82.0)]:
        rec = record("sqsp", seed, top1, f"s{seed}")
        write_record(results, rec)
        write_board_entry(results, "embedded", board("ablation", "ablation_f", 6, 92.54), rec)
        write_board_entry(results, "embedded", board("table1", "table1_sqsp", 2, 92.54), rec)  # shared record
    rec = record("squeeze", 0, 10.5, "c0")
    write_record(results, rec)
    write_board_entry(results, "embedded", board("ablation", "ablation_c", 3, 10.0), rec)
    write_record(results, {**record("raw_pixels", 0, 84.4, "rp"), "trained": False})
    for seed, top1 in [(0, 73.0), (1, 75.0)]:
        write_record(results, {**record("random_init", seed, top1, f"ri{seed}"), "trained": False})

    assert len(load_records(results, "embedded")) == 6  # board entries are not records
    text = render_table_leaderboard(results, tmp_path / "lb", "embedded", "ablation").read_text()
    lines = [line for line in text.splitlines() if line.startswith("| ablation_")]
    assert lines[0].startswith("| ablation_c") and "10.50" in lines[0] and "10.00" in lines[0]  # paper order
    # ± is the 95% interval's half-width: t(0.975, 1) * std / sqrt(2) = 12.706 * 1.414 / 1.414
    assert "**81.00 ± 12.71 (n=2)**" in lines[1] and "92.54" in lines[1] and "0, 1" in lines[1]
    assert "raw pixels (anchor)" in text and "84.40" in text
    # the anchor's seeds are averaged too; Welch tells it from the best row (t = 4.95, 2 dof, p = 0.038): not bold
    assert "| 74.00 ± 12.71 (n=2) " in text
    assert "random-init anchor's sample std over seeds): linear_fmnist top1: std 1.41 over 2 seeds" in text
    assert "poster: CIFAR-10" in text and "compare orderings" in text
    assert (tmp_path / "lb" / "ablation_embedded.png").stat().st_size > 0
    assert "81.00" in render_table_leaderboard(results, tmp_path / "lb", "embedded", "table1").read_text()


def test_a_board_of_several_tasks_shows_every_metric_beside_the_poster(tmp_path):
    """The dense / transfer layout (``tasks`` + ``metrics`` in the board): a section per task, a line per metric
    with its direction, ours (mean ± std over seeds) beside the poster's, the backend under each column."""
    results = tmp_path / "results"
    meta = {"name": "dense", "title": "Dense", "description": "about it", "column_names": ["method family"],
            "paper_column": "poster", "tasks": ["voc_det", "nyuv2_normals", "ade20k_seg"],
            "metrics": {"voc_det": ["AP", "AP50"], "nyuv2_normals": ["mean"], "ade20k_seg": ["mIoU"]},
            "lower_is_better": ["mean"]}
    cells = [("voc_det", "dense_sqsp_voc", {"AP": 40.0, "AP50": 70.0}, {"AP": 41.1, "AP50": 69.07}, "detectron2"),
             ("nyuv2_normals", "dense_sqsp_normals", {"mean": 33.0}, {"mean": 33.09}, "builtin")]
    for task, row, metrics, paper, backend in cells:
        for seed, shift in ((0, 0.0), (1, 2.0)):
            rec = {**record("sqsp", seed, 0.0, f"{row}{seed}"), "task": task, "headline": list(metrics)[0],
                   "higher_is_better": task != "nyuv2_normals", "preset": "imagenet100",
                   "metrics": {k: v + shift for k, v in metrics.items()},
                   "task_recipe": {"backend": backend, "protocol": "p", "deviations": []}}
            write_record(results, rec)
            write_board_entry(results, "imagenet100", {**meta, "row": row, "order": 1, "paper_metrics": paper,
                                                       "columns": {"method family": "Sq&Sp"}}, rec)
    text = render_table_leaderboard(results, tmp_path / "lb", "imagenet100", "dense").read_text()
    voc = text.split("## voc_det")[1].split("## nyuv2_normals")[0]
    assert "| AP ↑" in voc and "41.00 ± 12.71 (n=2)" in voc and "41.10" in voc and "69.07" in voc
    assert "Sq&Sp: ours" in voc and "Sq&Sp: poster" in voc and "backend detectron2, seeds 0, 1" in voc
    normals = text.split("## nyuv2_normals")[1].split("## ade20k_seg")[0]
    assert "| mean ↓" in normals and "34.00 ± 12.71 (n=2)" in normals and "backend builtin" in normals
    assert "No run recorded yet" in text.split("## ade20k_seg")[1]
    assert (tmp_path / "lb" / "dense_imagenet100.png").stat().st_size > 0


def test_board_entry_pointing_nowhere_is_an_error(tmp_path):
    rec = record("sqsp", 0, 80.0, "gone")
    write_board_entry(tmp_path, "embedded", board("ablation", "ablation_f", 6, 92.54), rec)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render_table_leaderboard(tmp_path, tmp_path / "lb", "embedded", "ablation")


def test_row_sweep_end_to_end_then_resume(tmp_path):
    real_fmnist_or_skip()
    args = ["-m", "experiment=ablation", "row=ablation_a,ablation_c", "preset=smoke", "anchors=false",
            f"hydra.sweep.dir={tmp_path}/sweep"]
    first = launch(tmp_path, *args)
    assert first.returncode == 0, first.output[-3000:]
    text = (tmp_path / "leaderboards" / "ablation_smoke.md").read_text()
    assert "| ablation_a" in text and "| ablation_c" in text and "74.20" in text and "10.00" in text
    records = {p: p.read_text() for p in (tmp_path / "results").rglob("*.json")}
    again = launch(tmp_path, *args)
    assert again.returncode == 0, again.output[-3000:]
    assert again.output.count("skip_existing") == 2 and "pretraining" not in again.output
    assert {p: p.read_text() for p in (tmp_path / "results").rglob("*.json")} == records
