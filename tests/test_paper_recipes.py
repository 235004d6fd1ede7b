"""The paper presets (launch/preset/paper_<dataset>.yaml) against the facts of the Squeeze-and-Span authors'
code (yangyu12/squeeze-and-span: sns.py, simsiam.py, vicreg.py, eval_classification.py, src/engine.py and
the scripts/ of each run), and each preset end to end at smoke scale on replicas of the official releases with
a random-weight network pickle in NVIDIA's format: pretraining, probe, record, leaderboard; and the poster's
Table 2 (``experiment=table2``) scaled down, all eight rows.
"""
from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.helpers.launching import REPO, launch
from tests.helpers.replicas import write_cifar10, write_cifar100, write_stl10
from tests.helpers.stylegan import make_networks, write_official_pickle

CIFAR10_URL = ("https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/paper-fig11b-cifar10/"
               "cifar10u-cifar-ada-best-fid.pkl")

# what the three recipes share (the authors' code)
SHARED = {
    "generator.name": "stylegan2ada", "generator.truncation_psi": 1.0, "generator.noise_mode": "random",
    "generator.label": None, "generator.precision": "float16",
    "backbone.width": 64, "backbone.zero_init_residual": True,
    "head.hidden_dim": 512, "head.hidden_layers": 4, "head.embed_dim": 2048, "head.predictor_hidden_dim": 512,
    "pretrain.batch_size": 512, "pretrain.momentum": 0.9, "pretrain.lr_schedule": "per_epoch",
    "pretrain.warmup_steps": 0, "pretrain.autocast": "none",
    "augment.synthetic": "per_batch",
    "objective.nu_cov": 1.0, "objective.zg_varcov": "log_only", "objective.vicreg_variance": "sum",
    "distributed.sync_batchnorm": True,
    "task.momentum": 0.9, "task.weight_decay": 0.0, "task.epochs": 90, "task.eval_every": 5,
}
# what the CIFAR-10 and CIFAR-100 recipes share
CIFAR = {
    **SHARED, "generator.pickle": None, "backbone.arch": "resnet18_cifar", "backbone.input_norm": "cifar",
    "head.simsiam_projector_layers": 2, "pretrain.base_lr": 0.03, "pretrain.weight_decay": 5e-4,
    "pretrain.steps": 800 * 97, "pretrain.steps_per_epoch": 97, "augment.crop_size": None, "augment.blur_p": 0.0,
    "task.optimizer": "sgd", "task.lr": 30.0, "task.batch_size": 256, "task.image_size": 32,
}
FACTS = {
    "paper_cifar10": {
        **CIFAR, "data.name": "cifar10_in_memory", "generator.url": CIFAR10_URL,
        "objective.lambda_rd": 25.0, "objective.mu_var": 25.0, "task.name": "probe_cifar10",
    },
    "paper_cifar100": {
        **CIFAR, "data.name": "cifar100_in_memory", "generator.url": None,
        "generator.expected_file": "cifar100u-cifar-best-fid4.13.pkl",
        "objective.lambda_rd": 10.0, "objective.mu_var": 10.0, "task.name": "probe_cifar100",
    },
    "paper_stl10": {
        **SHARED, "data.name": "stl10_in_memory", "generator.url": None, "generator.pickle": None,
        "generator.expected_file": "stl10u-my128-best-fid20.86.pkl",
        "backbone.arch": "resnet18", "backbone.input_norm": "imagenet", "head.simsiam_projector_layers": 3,
        "pretrain.base_lr": 0.05, "pretrain.weight_decay": 1e-4, "pretrain.steps": 200 * 205,
        "pretrain.steps_per_epoch": 205, "augment.crop_size": 64, "augment.blur_p": 0.5,
        "objective.lambda_rd": 25.0, "objective.mu_var": 25.0,
        "task.name": "probe_stl10", "task.optimizer": "lars", "task.lars_trust_coefficient": 0.001,
        "task.lr": 0.1, "task.batch_size": 4096, "task.image_size": 64,
    },
}
FACTS["paper"] = {**FACTS["paper_cifar10"]}  # the CIFAR-10 recipe under its earlier name
# per method, on every paper preset (objective values as the preset's)
METHOD_FACTS = {
    "sqsp": {"alpha": 0.5, "source": "generator", "projector_hidden_dim": 512, "projector_hidden_layers": 4,
             "embed_dim": 2048},
    "squeeze": {"alpha": 1.0},
    "simsiam": {"embed_dim": 2048, "predictor_hidden_dim": 512, "fix_predictor_lr": True, "domain": "real"},
    "vicreg": {"lambda_inv": 25.0, "mu_var": 25.0, "nu_cov": 1.0, "variance_convention": "sum",
               "projector_hidden_layers": 4, "projector_hidden_dim": 512, "embed_dim": 2048},
}


def resolved(*overrides) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base=None):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def at(cfg: dict, dotted: str):
    for key in dotted.split("."):
        cfg = cfg[key]
    return cfg


@pytest.mark.parametrize("preset", sorted(FACTS))
def test_paper_preset_follows_the_authors_code(preset):
    cfg = resolved(f"preset={preset}")
    wrong = {k: (at(cfg, k), v) for k, v in FACTS[preset].items() if at(cfg, k) != v}
    assert not wrong, f"{preset}: (ours, the authors') differ for {wrong}"
    assert cfg["preset"] == preset
    for method, facts in METHOD_FACTS.items():
        method_cfg = resolved(f"preset={preset}", f"method={method}")["method"]
        wrong = {k: (method_cfg[k], v) for k, v in facts.items() if method_cfg[k] != v}
        assert not wrong, f"{preset} method={method}: (ours, the authors') differ for {wrong}"
        if method in ("sqsp", "squeeze"):  # the data set's loss weights and the Z_g convention
            assert (method_cfg["lambda_rd"], method_cfg["mu_var"], method_cfg["nu_cov"], method_cfg["zg_varcov"]) == (
                FACTS[preset]["objective.lambda_rd"], FACTS[preset]["objective.mu_var"], 1.0, "log_only")
        if method == "simsiam":
            assert method_cfg["projector_layers"] == FACTS[preset]["head.simsiam_projector_layers"]


def test_each_convention_is_one_override_away():
    cfg = resolved("preset=paper_cifar10", "objective.zg_varcov=poster", "augment.synthetic=per_sample",
                   "pretrain.lr_schedule=per_step", "backbone.zero_init_residual=false", "backbone.input_norm=none",
                   "generator.noise_mode=const", "generator.precision=float32")
    assert cfg["method"]["zg_varcov"] == "poster"
    assert (cfg["augment"]["synthetic"], cfg["pretrain"]["lr_schedule"], cfg["backbone"]["zero_init_residual"],
            cfg["backbone"]["input_norm"], cfg["generator"]["noise_mode"], cfg["generator"]["precision"]) == (
        "per_sample", "per_step", False, "none", "const", "float32")


def test_table2_rows_carry_the_camera_ready_numbers():
    expected = {"table2_real_simsiam": (90.94, 62.44, 71.30), "table2_real_vicreg": (89.20, 63.31, 74.43),
                "table2_syn_simsiam": (85.11, 47.89, 73.38), "table2_syn_vicreg": (84.68, 52.84, 70.80),
                "table2_squeeze": (87.67, 57.35, 73.35), "table2_mix_simsiam": (90.88, 62.68, 71.70),
                "table2_mix_vicreg": (90.46, 65.22, 75.05), "table2_sqsp": (92.54, 67.87, 76.83)}
    domains = {"real": 0.0, "syn": 1.0, "mix": 0.5}
    for row, numbers in expected.items():
        for preset, number in zip(("paper_cifar10", "paper_cifar100", "paper_stl10"), numbers):
            cfg = resolved(f"preset={preset}", f"row={row}")
            assert cfg["board"]["name"] == "table2" and cfg["board"]["task"] == cfg["task"]["name"]
            assert cfg["board"]["paper"] == number, (row, preset)
        method = cfg["method"]
        share = domains[row.split("_")[1]] if method["name"] in ("simsiam", "vicreg") else None
        if share is not None:  # the synthetic share of a batch: real 0, syn 1, mix 0.5
            assert {"real": 0.0, "syn": 1.0, "syn_real": method["syn_fraction"]}[method["domain"]] == share
    assert resolved("row=table2_sqsp")["board"]["paper"] is None  # Fashion-MNIST: the poster has no number


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """CIFAR-10, CIFAR-100 and STL-10 (with its unlabeled file) replicas, and random-weight network pickles in
    NVIDIA's format: unconditional, 32 px for CIFAR, 128 px for STL-10."""
    root = tmp_path_factory.mktemp("paper")
    datasets = root / "datasets"
    for write in (write_cifar10, write_cifar100, write_stl10):
        write(datasets)
    pickles = {}
    for name, resolution in (("cifar", 32), ("stl10", 128)):
        G, D, g_kwargs, d_kwargs = make_networks(0, seed=1, resolution=resolution)
        pickles[name] = write_official_pickle(root / f"{name}.pkl", G, D, g_kwargs, d_kwargs)
    return datasets, pickles


def smoke_scale(datasets, pickle_file) -> tuple:
    """The recipe's conventions at a few seconds' size: small heads, two steps of 8, one probe epoch."""
    return (f"paths.datasets={datasets}", f"generator.pickle={pickle_file}", "pretrain.steps=2",
            "pretrain.batch_size=8", "pretrain.steps_per_epoch=1", "pretrain.log_every=1", "head.hidden_dim=16",
            "head.embed_dim=32", "head.predictor_hidden_dim=8", "eval.epochs=1", "eval.max_train_samples=64",
            "eval.max_test_samples=64", "task.num_workers=0")


@pytest.mark.parametrize("preset", ["paper_cifar100", "paper_stl10"])
def test_paper_preset_end_to_end_at_smoke_scale(replicas, tmp_path, preset):
    datasets, pickles = replicas
    pickle_file = pickles["stl10" if preset == "paper_stl10" else "cifar"]
    width = [] if preset == "paper_stl10" else ["backbone.width=8"]  # torchvision's ResNet-18 has fixed widths
    result = launch(tmp_path, "method=sqsp", f"preset={preset}", "anchors=false", *smoke_scale(datasets, pickle_file),
                    *width)
    assert result.returncode == 0, result.output[-4000:]
    (record_file,) = (tmp_path / "results" / preset / FACTS[preset]["task.name"]).glob("sqsp-*.json")
    record = json.loads(record_file.read_text())
    assert record["generator_provenance"]["G_init_kwargs"]["img_resolution"] == (128 if preset == "paper_stl10" else 32)
    assert record["method_conventions"]["zg_varcov"] == "log_only"
    assert record["method_conventions"]["augmentation"].startswith("synthetic: one parameter set per batch")
    metrics = record["metrics"]
    assert 0 <= metrics["top1"] <= metrics["top1_best"] <= 100
    assert (tmp_path / "leaderboards" / f"{preset}.md").exists()
    metrics_log = [json.loads(line) for line in
                   (next((tmp_path / "artifacts" / "pretrain").glob("sqsp-*")) / "metrics.jsonl").read_text().splitlines()]
    lr = 0.05 * 8 / 256 if preset == "paper_stl10" else 0.03 * 8 / 256
    # per-epoch cosine over 2 epochs of 1 step: the peak lr, then half of it
    assert [round(m["lr"], 8) for m in metrics_log] == [round(lr, 8), round(lr / 2, 8)]


def test_table2_scaled_down_renders_all_eight_rows(replicas, tmp_path):
    datasets, pickles = replicas
    result = launch(tmp_path, "-m", "experiment=table2", "preset=paper_cifar10", "backbone.width=8",
                    *smoke_scale(datasets, pickles["cifar"]))
    assert result.returncode == 0, result.output[-4000:]
    board = (tmp_path / "leaderboards" / "table2_paper_cifar10.md").read_text()
    rows = [line for line in board.splitlines() if line.startswith("| table2_")]
    assert len(rows) == 8, board
    for row, paper in (("table2_sqsp", "92.54"), ("table2_syn_vicreg", "84.68"), ("table2_mix_simsiam", "90.88")):
        (line,) = [r for r in rows if r.startswith(f"| {row} ")]
        assert line.rstrip(" |").endswith(paper), line
    assert "poster (camera-ready): cifar10 top-1" in board and "best epoch (top1_best, optimistic)" in board
    assert (tmp_path / "leaderboards" / "table2_paper_cifar10.png").exists()
