"""Data-parallel pretraining (benchmark/pretraining/distributed.py): W processes train what one process does.

The pieces first (sharded augmentation and sampling; the differentiable collectives and the CPU
synchronised BatchNorm against one process on the whole batch, in float64), then the whole: a
two-process gloo run of sqsp through torchrun against a one-process run at the same global batch.
"""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmark.pretraining.augment import Augment
from benchmark.pretraining.distributed import DataParallel, objective_key, synchronize_batchnorm
from benchmark.pretraining.engine import checkpoint_rng_states, restore_rng_states
from benchmark.interfaces import Generator
from benchmark.toolkit.losses import covariance_loss, variance_loss
from tests.helpers.launching import REPO
from tests.helpers.replicas import write_fashion_mnist_replica


@pytest.mark.parametrize("size,channels", [(32, 1), (32, 3), (64, 3)])  # 64 px adds the blur
def test_augmentation_shards_are_rows_of_the_global_batch(size, channels):
    images = torch.rand(8, channels, size, size) * 2 - 1
    torch.manual_seed(5)
    whole = Augment(size, channels)(images)
    after_whole = torch.rand(4)  # where the global RNG is left
    shards = []
    for rank in range(4):
        torch.manual_seed(5)
        shards.append(Augment(size, channels, shard=(rank, 4))(images[2 * rank:2 * rank + 2]))
        assert torch.equal(torch.rand(4), after_whole), "every process must draw what one process draws"
    assert torch.equal(torch.cat(shards), whole)


def test_generator_rows_are_rows_of_the_global_sample(small_generator):
    whole = small_generator.sample(12, rng=torch.Generator().manual_seed(3))
    for rows in (slice(0, 4), slice(4, 8), slice(8, 12)):
        for part in (small_generator.sample_rows(12, rows, rng=torch.Generator().manual_seed(3)),  # its override
                     Generator.sample_rows(small_generator, 12, rows, rng=torch.Generator().manual_seed(3))):
            assert torch.allclose(part.images, whole.images[rows], atol=1e-6)
            assert torch.allclose(part.w, whole.w[rows], atol=1e-6)
            assert all(torch.allclose(p, f[rows], atol=1e-5) for p, f in zip(part.features, whole.features))


def test_shards_must_divide_and_only_unequal_objectives_are_hashed():
    with pytest.raises(ValueError, match="16 does not split over 3 processes"):
        DataParallel(0, 3).rows(16)
    assert DataParallel(1, 4).rows(16) == slice(4, 8)
    assert objective_key(8, True, True) is None  # equivalent to one process: the same artifact
    assert objective_key(1, False, False) is None
    assert objective_key(8, False, True) == {"world_size": 8, "gather_statistics": False, "sync_batchnorm": True}


def _config(tmp_path, *overrides) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=["preset=smoke", f"paths.artifacts={tmp_path}/artifacts",
                                           f"paths.results={tmp_path}/results", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def test_per_process_statistics_rehash_trained_methods_only(tmp_path, monkeypatch):
    """With a switch off, W processes train another objective, so the world size joins the pretraining
    hash; an anchor trains nothing, and its records must not multiply with the cluster settings."""
    from benchmark.orchestration import identity

    hashes = {}
    for world in ("1", "2"):
        monkeypatch.setenv("WORLD_SIZE", world)
        for method in ("sqsp", "random_init"):
            cfg = _config(tmp_path, f"method={method}", "distributed.gather_statistics=false")
            hashes[world, method] = identity.pretraining_hash(cfg)
    assert hashes["1", "sqsp"] != hashes["2", "sqsp"]
    assert hashes["1", "random_init"] == hashes["2", "random_init"]


def test_helper_processes_leave_an_existing_record_to_the_first(tmp_path, monkeypatch):
    """torchrun with skip_existing=true: every process finds the record; only the first reports it (and
    evaluates the anchors, renders the boards); the others end there instead of evaluating anchors."""
    from benchmark.orchestration import identity, pipeline
    from benchmark.reporting.records import write_record

    cfg = _config(tmp_path, "method=sqsp", "task=linear_fmnist", "skip_existing=true")
    record = {"method": "sqsp", "task": "linear_fmnist", "preset": "smoke", "seed": 0,
              "run_hash": identity.run_hash(cfg), "metrics": {"top1": 1.0}}
    write_record(tmp_path / "results", record)
    assert identity.expected_record_path(cfg).exists()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert pipeline.record_of(cfg) is None
    monkeypatch.setenv("RANK", "0")
    assert pipeline.record_of(cfg)["metrics"] == {"top1": 1.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _collectives_worker(rank: int, world: int, port: int, queue) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        parallel = DataParallel(rank, world)
        g = torch.Generator().manual_seed(0)
        z = torch.randn(8, 5, generator=g, dtype=torch.float64)
        images = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64)
        weights = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64)
        rows = parallel.rows(8)
        # variance + covariance of the gathered embeddings
        z_rows = z[rows].clone().requires_grad_(True)
        gathered = parallel.gather_batch(z_rows)
        (variance_loss(gathered) + covariance_loss(gathered)).backward()
        # synchronised BatchNorm in a model, channels-last input as in pretraining
        model = torch.nn.Sequential(torch.nn.BatchNorm2d(3)).double()
        restore = synchronize_batchnorm(model, torch.device("cpu"))
        swapped = type(model[0]).__name__
        x_rows = images[rows].clone().contiguous(memory_format=torch.channels_last).requires_grad_(True)
        y_rows = model(x_rows)
        (y_rows * weights[rows]).sum().backward()
        weight_grad = model[0].weight.grad.clone()
        dist.all_reduce(weight_grad)
        restore()
        # a checkpoint's RNG states: each process resumes with its own (each GPU has its own generator)
        torch.manual_seed(100 + rank)
        random.seed(100 + rank)
        saved = checkpoint_rng_states(parallel)
        expected = (torch.rand(3).tolist(), random.random())
        torch.manual_seed(0)  # as a fresh process
        random.seed(0)
        restore_rng_states(saved, parallel)
        rng = {"expected": expected, "restored": (torch.rand(3).tolist(), random.random()),
               "processes_saved": len(saved["rng_by_rank"])}
        queue.put({"rank": rank, "rng": rng, "z_grad": z_rows.grad.numpy(), "y": y_rows.detach().contiguous().numpy(),
                   "x_grad": x_rows.grad.contiguous().numpy(), "weight_grad": weight_grad.numpy(), "swapped": swapped,
                   "restored": type(model[0]).__name__, "running_mean": model[0].running_mean.numpy(),
                   "running_var": model[0].running_var.numpy()})
    finally:
        dist.destroy_process_group()


def test_collectives_give_the_one_process_gradients():
    """Each process holds W x the gradient of the global loss for its rows (so that DDP's mean is exact),
    and gets its own RNG states back from a checkpoint."""
    world, ctx = 2, mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    workers = [ctx.Process(target=_collectives_worker, args=(r, world, port, queue)) for r in range(world)]
    for w in workers:
        w.start()
    results = sorted((queue.get(timeout=120) for _ in range(world)), key=lambda r: r["rank"])
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0

    g = torch.Generator().manual_seed(0)
    z = torch.randn(8, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    images = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64).requires_grad_(True)
    weights = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64)
    (variance_loss(z) + covariance_loss(z)).backward()
    bn = torch.nn.BatchNorm2d(3).double()
    y = bn(images)
    ((y * weights).sum() / world).backward()  # DDP's objective: the mean of the processes' losses

    cat = lambda key: np.concatenate([r[key] for r in results])  # noqa: E731
    np.testing.assert_allclose(cat("z_grad") / world, z.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cat("y"), y.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cat("x_grad") / world, images.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert results[0]["rng"]["expected"] != results[1]["rng"]["expected"]
    for r in results:
        assert r["rng"]["processes_saved"] == world and r["rng"]["restored"] == r["rng"]["expected"]
        assert (r["swapped"], r["restored"]) == ("CpuSyncBatchNorm", "BatchNorm2d")
        np.testing.assert_allclose(r["weight_grad"] / world, bn.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(r["running_mean"], bn.running_mean.numpy(), rtol=1e-10)
        np.testing.assert_allclose(r["running_var"], bn.running_var.numpy(), rtol=1e-10)


# ------------------------------------------------------------------------------------------ the whole
# float64 on the CPU (pretrain.precision): in float32 the two runs agree to 1e-6 at steps 0 and 1, then
# batch-size-dependent rounding (the same sums split over two processes) is amplified by BatchNorm over
# the smoke preset's 4 images per view and process, about 1% by step 5; two one-process float32 runs that
# differ only in memory format drift apart as much. In float64 that drift stays below 1e-9.
SQSP_SMOKE = ["preset=smoke", "method=sqsp", "task=linear_fmnist", "anchors=false", "device=cpu", "pretrain.steps=6",
              "pretrain.precision=float64"]


def _launch(root, data, *extra, processes=1):
    paths = [f"paths.artifacts={root}/artifacts", f"paths.results={root}/results",
             f"paths.leaderboards={root}/leaderboards", f"hydra.run.dir={root}/run"]
    runner = [sys.executable, "launch.py"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "launch.py"]
    env = {**os.environ, "GANREP_DATA": str(data), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*runner, *paths, *SQSP_SMOKE, *extra], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (run_dir,) = (root / "artifacts" / "pretrain").glob("sqsp-*")
    curve = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return run_dir, curve


def test_two_gloo_processes_follow_the_one_process_loss_curve(tmp_path):
    data = write_fashion_mnist_replica(tmp_path / "fmnist")
    one_dir, one = _launch(tmp_path / "one", data)
    # the same small GAN for every run (trained once, by the one-process run)
    for name in ("two", "per_gpu"):
        (tmp_path / name / "artifacts").mkdir(parents=True)
        (tmp_path / name / "artifacts" / "generators").symlink_to(tmp_path / "one" / "artifacts" / "generators")
    two_dir, two = _launch(tmp_path / "two", data, processes=2)

    assert two_dir.name == one_dir.name, "an equivalent run must share the one-process run's pretraining hash"
    assert json.loads((two_dir / "train_stats.json").read_text())["processes"] == 2
    assert len(list((tmp_path / "two" / "results").rglob("*.json"))) == 1, "only the first process records"
    assert [s["step"] for s in two] == [s["step"] for s in one] == list(range(6))
    for a, b in zip(one, two):  # every logged term (squeeze and span: rd, var, cov) at every step,
        for term in a:           # to the 5 decimals metrics.jsonl keeps
            assert b[term] == pytest.approx(a[term], rel=0, abs=1.01e-5), (a["step"], term)
    one_weights = torch.load(one_dir / "method.pt")
    two_weights = torch.load(two_dir / "method.pt")
    for name, tensor in one_weights.items():
        assert torch.allclose(two_weights[name], tensor, rtol=1e-6, atol=1e-9), name  # saved as float32

    # The comparison can fail: per-process statistics change the objective from step 0 (and the hash).
    per_gpu_dir, per_gpu = _launch(tmp_path / "per_gpu", data, "distributed.gather_statistics=false",
                                   "distributed.sync_batchnorm=false", processes=2)
    assert per_gpu_dir.name != one_dir.name
    assert abs(per_gpu[0]["loss"] - one[0]["loss"]) > 1e-3 * abs(one[0]["loss"])
