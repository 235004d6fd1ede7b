"""Many processes writing result records and rendering the leaderboard at once (a sweep on a cluster
shares one results dir): every record reads back intact, and no write leaves a torn or stray file."""
from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from benchmark.reporting.preset_leaderboard import render_preset_leaderboard
from benchmark.reporting.records import load_records, record_path, write_record

N_DISTINCT = 50
N_SAME = 8  # processes that all write the one same record path
REPEATS = 5


def make_record(method: str, task: str, run_hash: str, value: float, writer: int) -> dict:
    return {"method": method, "task": task, "preset": "concurrent", "run_hash": run_hash, "seed": 0,
            "headline": "top1", "higher_is_better": True, "metrics": {"top1": value}, "trained": False,
            "config": {"method": {"name": method}, "pretrain": {"steps": 1}}, "writer": writer,
            "padding": "x" * (20_000 + 97 * writer)}  # large enough that a torn write would show


def distinct_writer(results: str, i: int, barrier) -> None:
    barrier.wait()  # every process writes at the same moment; they all create the directories too
    for _ in range(REPEATS):
        write_record(Path(results), make_record(f"m{i:02d}", "linear", f"hash{i:02d}", float(i), i))


def same_path_writer(results: str, i: int, barrier) -> None:
    barrier.wait()
    for _ in range(REPEATS):
        write_record(Path(results), make_record("shared", "shared_task", "samehash", 100.0 + i, i))


def board_renderer(results: str, boards: str, barrier) -> None:
    barrier.wait()
    for _ in range(3):
        render_preset_leaderboard(Path(results), Path(boards), "concurrent")


def test_fifty_processes_write_records_at_once(tmp_path):
    results, boards = tmp_path / "results", tmp_path / "boards"
    ctx = mp.get_context("fork")  # spawn would import torch 60 times
    n_renderers = 3
    barrier = ctx.Barrier(N_DISTINCT + N_SAME + n_renderers)
    procs = [ctx.Process(target=distinct_writer, args=(str(results), i, barrier)) for i in range(N_DISTINCT)]
    procs += [ctx.Process(target=same_path_writer, args=(str(results), i, barrier)) for i in range(N_SAME)]
    procs += [ctx.Process(target=board_renderer, args=(str(results), str(boards), barrier))
              for _ in range(n_renderers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * len(procs)

    for i in range(N_DISTINCT):
        expected = make_record(f"m{i:02d}", "linear", f"hash{i:02d}", float(i), i)
        assert json.loads(record_path(results, expected).read_text()) == expected
    records = [r for r in load_records(results, "concurrent") if r["task"] == "linear"]
    assert len(records) == N_DISTINCT

    shared = json.loads(record_path(results, make_record("shared", "shared_task", "samehash", 0, 0)).read_text())
    assert shared == make_record("shared", "shared_task", "samehash", 100.0 + shared["writer"], shared["writer"])

    stray = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix not in (".json", ".md", ".png")]
    assert not stray, f"temporary files left behind: {stray[:5]}"
    board = (boards / "concurrent.md").read_text()
    assert board.startswith("# Leaderboard: preset `concurrent`") and board.endswith("\n")
    assert (boards / "concurrent.png").read_bytes().startswith(b"\x89PNG")


def pretrain_when_all_are_ready(cfg: dict, barrier) -> None:
    import torch

    from benchmark.orchestration import stages

    torch.set_num_threads(1)
    barrier.wait()
    stages.pretrain_only(cfg)


def test_concurrent_jobs_of_one_pretraining_train_it_once(tmp_path, monkeypatch):
    """Two jobs of the same pretraining hash (overlapping sweeps) at once: one trains, the other waits for it
    and reuses its weights, instead of training again into the same checkpoint files."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from benchmark.orchestration import identity
    from tests.helpers.launching import REPO
    from tests.helpers.replicas import write_fashion_mnist_replica

    monkeypatch.setenv("GANREP_DATA", str(write_fashion_mnist_replica(tmp_path / "fmnist")))
    steps = 30
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=[
            "preset=smoke", "method=sqsp", "device=cpu", f"pretrain.steps={steps}",
            f"paths.artifacts={tmp_path}/artifacts"]), resolve=True)
    ctx = mp.get_context("spawn")  # no fork of a process that has run torch's thread pools
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=pretrain_when_all_are_ready, args=(cfg, barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(timeout=300)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
    assert [p.exitcode for p in procs] == [0, 0]
    run_dir = identity.pretrained_weights(cfg).parent
    assert (run_dir / "method.pt").exists()
    logged = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(logged) == steps, f"{len(logged)} steps logged for a {steps}-step pretraining: trained twice"
