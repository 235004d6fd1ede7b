"""experiment=fid_vs_acc and experiment=umap as a user runs them (launch.py in a subprocess, preset=smoke on the
Fashion-MNIST replica): generator quality reaches the records and the board, an existing record gains it under
skip_existing without running again, and the UMAP analysis writes its figures and numbers."""
from __future__ import annotations

import json

from tests.helpers.launching import launch


def records(tmp_path):
    return [json.loads(p.read_text()) for p in (tmp_path / "results" / "smoke" / "linear_fmnist").glob("sqsp-*.json")]


def test_fid_vs_acc_sets_each_snapshot_quality_against_accuracy(tmp_path):
    first = launch(tmp_path, "preset=smoke", "anchors=false")  # the 4-step snapshot, before quality was asked for
    assert first.returncode == 0, first.output[-3000:]
    [before] = records(tmp_path)
    assert before["generator_quality"] is None

    sweep = launch(tmp_path, "-m", "experiment=fid_vs_acc", "preset=smoke", "gan_training.steps=2,4,6", "seed=0",
                   "anchors=false")
    assert sweep.returncode == 0, sweep.output[-3000:]
    assert "added fd_classifier to" in sweep.output  # the 4-step record: measured, not run again
    by_steps = {r["config"]["generator"]["steps"]: r for r in records(tmp_path)}
    assert sorted(by_steps) == [2, 4, 6]
    assert by_steps[4]["finished_at"] == before["finished_at"] and by_steps[4]["metrics"] == before["metrics"]
    for record in by_steps.values():
        quality = record["generator_quality"]
        assert quality["measure"] == "fd_classifier" and quality["value"] > 0 and quality["samples"] == 64
        assert "not an FID" in quality["feature"]
    board = (tmp_path / "leaderboards" / "fid_vs_acc_smoke.md").read_text()
    for steps in (2, 4, 6):
        assert f"| steps={steps} " in board
        assert f"{by_steps[steps]['generator_quality']['value']:.2f}" in board
    assert "over the 3 generators (each one's mean): Spearman's rho = " in board
    assert "On the poster's points: Spearman's rho = -0.983" in board
    assert (tmp_path / "leaderboards" / "fid_vs_acc_smoke.png").stat().st_size > 0


def test_umap_writes_a_figure_per_representation_and_their_numbers(tmp_path):
    result = launch(tmp_path, "experiment=umap", "preset=smoke")
    assert result.returncode == 0, result.output[-3000:]
    out = tmp_path / "leaderboards" / "umap_smoke"
    for name in ("umap.md", "umap.png", "umap_discriminator.png", "umap_latent.png", "umap_generator.png"):
        assert (out / name).stat().st_size > 0, name
    numbers = json.loads((out / "umap_numbers.json").read_text())
    assert numbers["n"] == 60 and "classifier" in numbers["labeler"]
    assert set(numbers["numbers"]) == {"discriminator", "latent", "generator"}
    run = json.loads((out / "run.json").read_text())
    assert run["analysis"] == "umap" and run["config"]["analysis"]["samples"] == 60 and run["git_commit"]
    assert not (tmp_path / "results").exists()  # nothing was pretrained or evaluated
