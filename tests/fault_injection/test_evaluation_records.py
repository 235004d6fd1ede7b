"""Records and leaderboards say exactly what was evaluated (issue 17).

Faults a user met: a 1-channel Fashion-MNIST backbone evaluated on CIFAR-10 saw every image (the raw-pixel
anchor's too) converted to gray, and neither the record nor the leaderboard said so; the anchors were
evaluated again whenever a ``pretrain.*`` key or a method option changed, and the duplicates read on the
leaderboard as two seeds ("± 0.00 (n=2)"). Each test runs the pipeline in this process at preset=smoke on
the tiny replicas of tests/helpers/replicas.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.interfaces import TaskContext
from benchmark.orchestration import pipeline
from benchmark.orchestration.identity import expected_record_path, run_hash
from benchmark.reporting.preset_leaderboard import render_markdown
from benchmark.reporting.table_leaderboard import render_table_leaderboard, write_board_entry
from benchmark.reporting.records import write_record
from tests.helpers.launching import REPO
from tests.helpers.replicas import write_cifar10, write_fashion_mnist_replica
from tests.helpers.tasks import build_task

# a trained method that needs no GAN (real images only), so a smoke pretraining takes a second or two
METHOD = ["method=vicreg", "method.domain=real"]
CIFAR_AT_32 = ["task=linear_cifar10", "task.image_size=32"]  # CIFAR-10 at its own size: only the channels differ
CONVERTED_NOTE = "evaluated as 1-channel 32 px; cifar10 is RGB 32 px"


def smoke_config(root: Path, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=["preset=smoke", "device=cpu", "data.download=false",
                                           f"paths.artifacts={root}/artifacts", f"paths.results={root}/results",
                                           f"paths.leaderboards={root}/leaderboards", f"paths.datasets={root}/data",
                                           f"paths.data_cache={root}/cache", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def records_of(root: Path, task: str, method: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "results" / "smoke" / task).glob(f"{method}-*.json"))]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A Fashion-MNIST (1-channel) pretraining evaluated on CIFAR-10 (RGB) and on Fashion-MNIST itself, each with
    its anchors, written once for the tests of this module: (root, the CIFAR-10 record, the Fashion-MNIST one)."""
    root = tmp_path_factory.mktemp("evaluation_records")
    data = write_fashion_mnist_replica(root / "data")
    write_cifar10(data)
    patch = pytest.MonkeyPatch()
    patch.setenv("GANREP_DATA", str(data))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only spin, the more so beside other jobs
    try:
        on_cifar = pipeline.run_experiment(OmegaConf.create(smoke_config(root, *METHOD, *CIFAR_AT_32)))
        on_fmnist = pipeline.run_experiment(OmegaConf.create(smoke_config(root, *METHOD)))
        yield root, on_cifar, on_fmnist
    finally:
        torch.set_num_threads(threads)
        patch.undo()


# ------------------------------------------------------------------------------- what the record says


def test_rgb_task_on_a_1_channel_backbone_is_recorded_as_converted(workspace):
    root, record, _ = workspace
    images = record["evaluation_images"]
    assert images == {"dataset": "cifar10", "native": {"mode": "RGB", "channels": 3, "size": 32},
                      "used": {"mode": "L", "channels": 1, "size": 32}, "converted": True}
    for anchor in ("raw_pixels", "random_init"):  # the anchors saw the same gray images
        [anchor_record] = records_of(root, "linear_cifar10", anchor)
        assert anchor_record["evaluation_images"]["converted"] is True
        assert anchor_record["evaluation_images"]["used"]["channels"] == 1


def test_native_evaluation_is_recorded_as_not_converted(workspace):
    root, _, record = workspace
    assert record["evaluation_images"] == {"dataset": "fashion_mnist",
                                           "native": {"mode": "L", "channels": 1, "size": 32},
                                           "used": {"mode": "L", "channels": 1, "size": 32}, "converted": False}
    [raw] = records_of(root, "linear_fmnist", "raw_pixels")
    assert raw["evaluation_images"]["converted"] is False


def test_rgb_data_evaluated_on_rgb_is_not_converted(workspace, monkeypatch):
    root, _, _ = workspace
    monkeypatch.setenv("GANREP_DATA", str(root / "data"))
    record = pipeline.run(smoke_config(root, "method=raw_pixels", "data=cifar10", *CIFAR_AT_32))
    assert record["evaluation_images"]["used"] == {"mode": "RGB", "channels": 3, "size": 32}
    assert record["evaluation_images"]["converted"] is False


@pytest.mark.parametrize("task, channels, overrides, converted, used", [
    ("linear_cifar10", 1, {}, True, {"mode": "L", "channels": 1, "size": 224}),  # gray, and resized 32 -> 224
    ("linear_cifar10", 3, {"image_size": None}, False, {"mode": "RGB", "channels": 3, "size": 32}),
    ("probe_cifar10", 1, {}, True, {"mode": "L", "channels": 1, "size": 32}),
    ("probe_cifar10", 3, {}, False, {"mode": "RGB", "channels": 3, "size": 32}),
    ("fmnist_det", 1, {}, False, {"mode": "L", "channels": 1, "size": 64}),
    ("fmnist_det", 3, {}, True, {"mode": "RGB", "channels": 3, "size": 64}),  # gray canvases copied to RGB
    ("fmnist_seg", 3, {}, True, {"mode": "RGB", "channels": 3, "size": 64}),
    ("voc_det", 1, {}, True, {"mode": "L", "channels": 1, "size": "variable"}),
    ("voc_det", 3, {}, False, {"mode": "RGB", "channels": 3, "size": "variable"}),
])
def test_every_task_family_says_what_it_showed_the_backbone(task, channels, overrides, converted, used, tmp_path):
    write_cifar10(tmp_path)
    ctx = TaskContext(device=torch.device("cpu"), data_cfg={"name": "fashion_mnist", "download": False},
                      cache_dir="data", datasets_root=str(tmp_path), image_channels=channels, image_size=32)
    images = build_task(task, **overrides).evaluation_images(ctx)
    assert images["used"] == used and images["converted"] is converted


def test_a_suite_says_it_per_member():
    ctx = TaskContext(device=torch.device("cpu"), data_cfg={}, cache_dir="data", image_channels=1, image_size=32)
    images = build_task("transfer_embedded").members["digits"].evaluation_images(ctx)
    assert images["native"] == {"mode": "L", "channels": 1, "size": 8} and images["converted"]  # 8 -> 32 px


# ----------------------------------------------------------------------------------- the leaderboard


def test_leaderboard_marks_the_converted_cells_and_says_why(workspace):
    root, _, _ = workspace
    board = (root / "leaderboards" / "smoke.md").read_text()
    rows = {line.split("|")[2].strip(): line for line in board.splitlines() if line.startswith("| ")}
    header = [c.strip() for c in rows["method"].split("|")]
    cifar, fmnist = header.index("linear_cifar10 top1 ↑"), header.index("linear_fmnist top1 ↑")
    for name in ("vicreg", "raw pixels (anchor)", "random-init backbone (anchor)"):
        cells = [c.strip() for c in rows[name].split("|")]
        assert cells[cifar].endswith(" †"), rows[name]  # converted to gray
        assert "†" not in cells[fmnist], rows[name]  # native
    assert f"- † {CONVERTED_NOTE}" in board


# ------------------------------------------------------------------------- anchors keyed by what shapes them


def test_changing_pretraining_or_method_options_does_not_reevaluate_the_anchors(workspace, monkeypatch):
    root, _, _ = workspace
    monkeypatch.setenv("GANREP_DATA", str(root / "data"))
    before = {p: p.stat().st_mtime_ns for p in (root / "results").rglob("*.json")}
    changed = smoke_config(root, *METHOD, "pretrain.steps=5", "method.mu_var=10.0", "pretrain.base_lr=0.1")
    pipeline.ensure_anchors(changed)
    after = {p: p.stat().st_mtime_ns for p in (root / "results").rglob("*.json")}
    assert after == before  # nothing evaluated, nothing written
    for anchor in ("raw_pixels", "random_init"):
        assert len(records_of(root, "linear_fmnist", anchor)) == 1  # one record for seed 0
        cfg = {**changed, "method": {"name": anchor}}
        assert expected_record_path(cfg) == expected_record_path({**smoke_config(root, *METHOD), "method": {"name": anchor}})


def anchor_hash(anchor: str, *overrides: str) -> str:
    cfg = smoke_config(Path("/nonexistent"), *overrides)
    return run_hash({**cfg, "method": {"name": anchor}})


@pytest.mark.parametrize("anchor", ["raw_pixels", "random_init"])
def test_an_anchor_hash_ignores_what_cannot_shape_it(anchor):
    base = anchor_hash(anchor)
    for overrides in (["pretrain.steps=7"], ["method=squeeze"], ["method.alpha=0.25"], ["generator=stylegan2ada"],
                      ["objective.mu_var=1.0"], ["augment.blur_p=0.0"], ["distributed.gather_statistics=false"],
                      ["gan_training.steps=9"], ["head.embed_dim=8"], ["paths.results=/elsewhere"]):
        assert anchor_hash(anchor, *overrides) == base, overrides


@pytest.mark.parametrize("anchor", ["raw_pixels", "random_init"])
def test_an_anchor_hash_follows_what_shapes_it(anchor):
    base = anchor_hash(anchor)
    for overrides in (["seed=1"], ["task=transfer_embedded"], ["task.max_iter=5"], ["eval.max_test_samples=10"],
                      ["augment.crop_size=24"], ["data=cifar10"], ["data.image_size=36"],
                      ["generator=stylegan2ada_cifar10u"]):  # its yaml sets data=cifar10: RGB images
        assert anchor_hash(anchor, *overrides) != base, overrides
    # the backbone shapes the random-init backbone, and nothing of raw pixels
    assert (anchor_hash(anchor, "backbone.width=8") != base) is (anchor == "random_init")
    assert (anchor_hash(anchor, "backbone.input_norm=cifar") != base) is (anchor == "random_init")


# ----------------------------------------------------------------------------------- n counts seeds


def record(method, seed, value, finished_at, run_hash, trained=False, **extra):
    return {"method": method, "task": "linear_fmnist", "preset": "smoke", "seed": seed, "headline": "top1",
            "higher_is_better": True, "metrics": {"top1": value}, "trained": trained, "generator": None,
            "config": {"pretrain": {"steps": 3}, "method": {"name": method}}, "run_hash": run_hash,
            "finished_at": finished_at, **extra}


def test_two_records_of_one_seed_count_once_the_newest():
    records = [record("raw_pixels", 0, 84.43, "2026-11-24T22:14:58+0000", "old"),
               record("raw_pixels", 0, 84.43, "2026-11-25T09:00:00+0000", "new"),
               record("random_init", 0, 70.0, "2026-11-25T09:00:00+0000", "a"),
               record("random_init", 0, 75.0, "2026-11-25T10:00:00+0100", "b"),  # 09:00 UTC: the same time,
               record("random_init", 0, 77.0, "2026-11-25T09:30:00+0000", "c"),  # so this one is newer
               record("random_init", 1, 79.0, "2026-11-25T09:00:00+0000", "d")]
    text = render_markdown(records, "smoke")
    raw = next(line for line in text.splitlines() if "| raw pixels" in line)
    assert "84.43" in raw and "n=" not in raw and "±" not in raw
    rand = next(line for line in text.splitlines() if "| random-init" in line)
    assert "78.00 ± 12.71 (n=2)" in rand  # seeds 0 (its newest, 77.0) and 1
    assert "n: distinct seeds" in text


def test_table_board_counts_anchor_seeds_once(tmp_path):
    results = tmp_path / "results"
    method = record("sqsp", 0, 80.0, "2026-11-25T09:00:00+0000", "s0", trained=True)
    write_record(results, method)
    board = {"name": "ablation", "row": "ablation_f", "order": 6, "columns": {}, "column_names": [], "paper": 92.54}
    write_board_entry(results, "smoke", board, method)
    for h, stamp, value in (("a", "2026-11-24T09:00:00+0000", 60.0), ("b", "2026-11-25T09:00:00+0000", 61.0)):
        write_record(results, record("random_init", 0, value, stamp, h, evaluation_images={
            "dataset": "fashion_mnist", "native": {"mode": "L", "channels": 1, "size": 32},
            "used": {"mode": "L", "channels": 1, "size": 32}, "converted": False}))
    text = render_table_leaderboard(results, tmp_path / "lb", "smoke", "ablation").read_text()
    anchor = next(line for line in text.splitlines() if "random-init backbone (anchor)" in line)
    cells = [c.strip() for c in anchor.split("|")]
    assert "61.00" in cells and "0" in cells and "n=" not in anchor  # seeds: "0", once


def test_records_of_other_data_get_their_own_row_not_a_seed_merged_away():
    """The same anchor and seed on Fashion-MNIST (shown CIFAR-10 in gray) and on CIFAR-10 (RGB): two rows, each
    with its own number, only the gray one marked (the '32.5 -> 100.0' report: two evaluations in one row)."""
    gray = {"dataset": "cifar10", "native": {"mode": "RGB", "channels": 3, "size": 32},
            "used": {"mode": "L", "channels": 1, "size": 32}, "converted": True}
    rgb = {**gray, "used": gray["native"], "converted": False}
    records = [record("raw_pixels", 0, 32.5, "2026-11-25T09:00:00+0000", "gray", evaluation_images=gray),
               record("raw_pixels", 0, 100.0, "2026-11-25T10:00:00+0000", "rgb", evaluation_images=rgb)]
    records[0]["config"]["data"] = {"name": "fashion_mnist", "image_size": 32, "root": None}
    records[1]["config"]["data"] = {"name": "cifar10_in_memory", "root": "/data"}
    text = render_markdown(records, "smoke")
    rows = [line for line in text.splitlines() if "| raw pixels (anchor)" in line]
    assert len(rows) == 2
    [gray_row] = [r for r in rows if "data.name=fashion_mnist" in r]
    [rgb_row] = [r for r in rows if "data.name=cifar10_in_memory" in r]
    assert "32.50 †" in gray_row and "100.00" in rgb_row and "†" not in rgb_row
    assert f"- † {CONVERTED_NOTE}" in text
