"""``launch.py`` end to end at preset=smoke on the real Fashion-MNIST files, the cache hit, bad input."""
from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir

from benchmark.data import DatasetNotFoundError
from benchmark.data import fashion_mnist as fm
from benchmark.orchestration.pipeline import run_experiment
from tests.helpers.launching import REPO, launch, real_fmnist_or_skip


def test_smoke_run_then_cache_hit(tmp_path):
    real_fmnist_or_skip()
    first = launch(tmp_path, "preset=smoke")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "training the GAN" in first.output and "pretraining sqsp" in first.output
    assert "leaderboard written to" in first.stdout

    records = sorted((tmp_path / "results" / "smoke" / "linear_fmnist").glob("*.json"))
    by_method = {json.loads(p.read_text())["method"]: json.loads(p.read_text()) for p in records}
    assert set(by_method) == {"sqsp", "raw_pixels", "random_init"}
    rec = by_method["sqsp"]
    assert rec["metrics"]["train_samples"] == 600 and rec["metrics"]["test_samples"] == 300
    assert 0 <= rec["metrics"]["top1"] <= 100
    assert rec["config"]["method"]["name"] == "sqsp" and len(rec["pretrain_hash"]) == 12
    assert rec["git_commit"] and rec["device"].startswith("cpu") and rec["versions"]["torch"]
    assert {"gan", "pretrain", "evaluation", "total"} <= set(rec["timings"]) and not rec["timings"]["pretrain_reused"]
    assert rec["method_conventions"]["zg_varcov"] == "poster"
    board = (tmp_path / "leaderboards" / "smoke.md").read_text()
    assert "| sqsp" in board and "raw pixels (anchor)" in board and "random-init backbone (anchor)" in board
    log_files = list((tmp_path / "runs").rglob("launch.log"))
    assert log_files and "pretraining sqsp" in log_files[0].read_text()

    # same pretraining config, another task setting: the GAN and the backbone are reused, not retrained
    second = launch(tmp_path, "preset=smoke", "task.max_iter=15")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "reusing the trained GAN" in second.output and "reusing pretrained sqsp" in second.output
    assert "training the GAN (no artifact" not in second.output
    recs = [json.loads(p.read_text()) for p in (tmp_path / "results" / "smoke" / "linear_fmnist").glob("sqsp-*.json")]
    assert len(recs) == 2 and len({r["pretrain_hash"] for r in recs}) == 1
    assert any(r["timings"]["pretrain_reused"] for r in recs)


def test_unknown_method_exits_nonzero_naming_valid_ones(tmp_path):
    result = launch(tmp_path, "method=nosuchmethod")
    assert result.returncode != 0
    assert "nosuchmethod" in result.stderr and "sqsp" in result.stderr and "squeeze" in result.stderr
    assert not (tmp_path / "results").exists()


def test_missing_dataset_leaves_no_record(tmp_path, monkeypatch):
    monkeypatch.setenv("GANREP_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=["preset=smoke", f"paths.results={tmp_path}/results",
                                           f"paths.artifacts={tmp_path}/artifacts", "data.download=false",
                                           f"paths.data_cache={tmp_path}/cache"])
    with pytest.raises(DatasetNotFoundError, match="no-debian"):
        run_experiment(cfg)
    assert not (tmp_path / "results").exists()


def test_transfer_embedded_run_fills_the_suite_board(tmp_path):
    real_fmnist_or_skip()
    result = launch(tmp_path, "preset=smoke", "task=transfer_embedded", "anchors=false")
    assert result.returncode == 0, result.stderr[-3000:]
    [record_file] = (tmp_path / "results" / "smoke" / "transfer_embedded").glob("sqsp-*.json")
    record = json.loads(record_file.read_text())
    assert record["headline"] == "average"
    m = record["metrics"]
    assert m["average"] == pytest.approx((m["fashion_mnist"] + m["digits"]) / 2)
    assert m["digits/train_samples"] == 600 and m["fashion_mnist/test_samples"] == 300  # the smoke limits
    board = (tmp_path / "leaderboards" / "transfer_embedded.md").read_text()
    assert "| smoke    | sqsp" in board and f"{m['digits']:.2f}" in board
    assert "transfer_embedded average" in (tmp_path / "leaderboards" / "smoke.md").read_text()
    # features of the evaluation sets were cached by backbone hash
    assert list((tmp_path / "artifacts" / "features" / "digits").glob("train-*.pt"))


def test_missing_evaluation_data_fails_before_pretraining(tmp_path):
    real_fmnist_or_skip()
    result = launch(tmp_path, "preset=smoke", "task=transfer_linear", f"paths.datasets={tmp_path}/no_datasets")
    assert result.returncode != 0
    assert "not found. Looked in" in result.output and "fgvc-aircraft-2013b" in result.output
    assert "pretraining sqsp" not in result.output and "training the GAN" not in result.output
