"""Exact resume: a pretraining run killed at any step and resumed ends with bitwise the weights of an
uninterrupted one; a damaged checkpoint falls back to the previous one, then to a fresh start."""
from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from benchmark.checkpoints import CHECKPOINT, PREVIOUS_CHECKPOINT, load_checkpoint
from benchmark.data import build_dataset
from benchmark.pretraining.engine import pretrain
from tests.helpers.launching import REPO
from tests.helpers.methods import build
from tests.helpers.pretraining import RESUME_CFG as CFG
from tests.helpers.pretraining import assert_state_dicts_equal, tensorboard_scalars
from tests.helpers.replicas import write_fashion_mnist_replica

# simsiam on syn_real draws from every source of randomness the loop has: the real-data sampler, the
# generator's sampling RNG and torch's global RNG (augmentations)
LAUNCH_ARGS = ["preset=smoke", "method=simsiam", "method.domain=syn_real", "anchors=false", "pretrain.steps=40",
               "pretrain.checkpoint_every=1", "pretrain.log_every=1", "pretrain.deterministic=true", "device=cpu"]


def launch_cmd(root):
    return [sys.executable, "launch.py", f"paths.artifacts={root}/artifacts", f"paths.results={root}/results",
            f"paths.leaderboards={root}/leaderboards", f"hydra.run.dir={root}/runs/${{now:%H-%M-%S-%f}}",
            *LAUNCH_ARGS]


def run_env(data_root):
    return {**os.environ, "GANREP_DATA": str(data_root), "OMP_NUM_THREADS": "1"}  # one thread: quick beside other jobs


def pretrain_dir(root):
    dirs = list((root / "artifacts" / "pretrain").glob("simsiam-*"))
    return dirs[0] if len(dirs) == 1 else None


def logged_steps(run_dir) -> int:
    try:
        return len((run_dir / "metrics.jsonl").read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_sigkilled_launch_resumes_bitwise_exactly(tmp_path):
    data = write_fashion_mnist_replica(tmp_path / "fmnist")
    full, killed = tmp_path / "full", tmp_path / "killed"
    done = subprocess.run(launch_cmd(full), cwd=REPO, env=run_env(data), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    kill_after = random.Random(8).randint(3, 25)  # steps logged before the kill lands
    proc = subprocess.Popen(launch_cmd(killed), cwd=REPO, env=run_env(data), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            run_dir = pretrain_dir(killed)
            if run_dir is not None and logged_steps(run_dir) >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        assert proc.wait(timeout=60) == -signal.SIGKILL, "the run ended before it could be killed"
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = pretrain_dir(killed)
    assert not (run_dir / "method.pt").exists() and (run_dir / CHECKPOINT).exists()
    killed_at = load_checkpoint(run_dir / CHECKPOINT)["step"]
    assert 0 < killed_at < 40

    resumed = subprocess.run(launch_cmd(killed), cwd=REPO, env=run_env(data), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming pretraining at step {killed_at}" in resumed.stdout + resumed.stderr
    stats = json.loads((run_dir / "train_stats.json").read_text())
    assert stats["resumed_from"] == killed_at
    assert not (run_dir / CHECKPOINT).exists() and not (run_dir / PREVIOUS_CHECKPOINT).exists()
    assert pretrain_dir(full).name == run_dir.name  # the same pretraining config
    assert_state_dicts_equal(torch.load(pretrain_dir(full) / "method.pt"), torch.load(run_dir / "method.pt"))


class Death(Exception):
    pass


def scramble_global_rngs():
    """A fresh process: other global RNG states until the checkpoint restores them."""
    torch.manual_seed(12345)
    random.seed(12345)
    np.random.seed(12345)


def run(out_dir, small_generator, data, die_at_call=None, scramble=False):
    method = build("simsiam", small_generator, domain="syn_real")
    if scramble:
        scramble_global_rngs()
    real_sample, calls = small_generator.sample, {"n": 0}

    def sample(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == die_at_call:
            raise Death
        return real_sample(*args, **kwargs)

    small_generator.sample = sample
    try:
        stats = pretrain(method, small_generator, data, CFG, out_dir, torch.device("cpu"), seed=0)
    finally:
        del small_generator.sample
    return method, stats


@pytest.fixture
def uninterrupted(tmp_path, fmnist_replica, small_generator, one_thread):
    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    (tmp_path / "full").mkdir()
    method, _ = run(tmp_path / "full", small_generator, data)
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    with pytest.raises(Death):  # dies drawing the batch of step index 5: checkpoints of steps 5 and 4 exist
        run(interrupted, small_generator, data, die_at_call=6)
    assert load_checkpoint(interrupted / CHECKPOINT)["step"] == 5
    assert load_checkpoint(interrupted / PREVIOUS_CHECKPOINT)["step"] == 4
    return method.state_dict(), interrupted, data


def corrupt(path):
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def test_in_process_resume_is_exact(uninterrupted, small_generator):
    expected, interrupted, data = uninterrupted
    method, stats = run(interrupted, small_generator, data, scramble=True)
    assert stats["resumed_from"] == 5
    assert_state_dicts_equal(expected, method.state_dict())


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_damaged_latest_checkpoint_falls_back_to_previous(uninterrupted, small_generator, caplog, damage):
    expected, interrupted, data = uninterrupted
    latest = interrupted / CHECKPOINT
    if damage == "flip":
        corrupt(latest)
    elif damage == "truncate":
        latest.write_bytes(latest.read_bytes()[:1000])
    else:  # killed between the two renames of a rotation
        latest.unlink()
    with caplog.at_level(logging.WARNING, logger="benchmark.pretraining.engine"):
        method, stats = run(interrupted, small_generator, data, scramble=True)
    assert stats["resumed_from"] == 4
    assert "previous checkpoint" in caplog.text
    if damage != "missing":
        assert "is corrupt" in caplog.text
    assert_state_dicts_equal(expected, method.state_dict())


def test_both_checkpoints_damaged_start_over(uninterrupted, small_generator, caplog):
    expected, interrupted, data = uninterrupted
    corrupt(interrupted / CHECKPOINT)
    (interrupted / PREVIOUS_CHECKPOINT).write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.WARNING, logger="benchmark.pretraining.engine"):
        method, stats = run(interrupted, small_generator, data)
    assert stats["resumed_from"] == 0
    assert "starts over" in caplog.text
    assert_state_dicts_equal(expected, method.state_dict())


class Requeued(Exception):
    """Stands for submitit's handler, which checkpoints the job's call, requeues it and exits."""


def test_preempted_gan_training_resumes_bitwise_exactly(tmp_path, fmnist_replica, one_thread):
    """The small GAN's trainer: SIGUSR2 during a step checkpoints that step (none periodic here), and the
    rerun ends with the networks of an uninterrupted training, the EMA's w_avg included."""
    from benchmark import preemption
    from benchmark.generators.train_small_gan import train_small_gan

    cfg = {"z_dim": 16, "w_dim": 32, "g_channels": 32, "d_channels": 8, "spectral_norm": False, "steps": 12,
           "batch_size": 8, "lr": 2e-4, "betas": [0.5, 0.999], "ema_decay": 0.9, "seed": 0, "checkpoint_every": 1000}
    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    (tmp_path / "full").mkdir(), (tmp_path / "preempted").mkdir()
    expected = train_small_gan(cfg, data, tmp_path / "full", torch.device("cpu"))

    class SignalAtBatch:  # the signal arrives while the 6th batch is being drawn (step index 5)
        def __init__(self, batches):
            self.batches, self.drawn = batches, 0

        def __next__(self):
            self.drawn += 1
            if self.drawn == 6:
                os.kill(os.getpid(), signal.SIGUSR2)
            return next(self.batches)

        def __getattr__(self, name):
            return getattr(self.batches, name)

    def requeue(signum, frame):
        raise Requeued

    previous = signal.signal(signal.SIGUSR2, requeue)
    preemption.defer_to_step_boundary(signal.SIGUSR2)
    real_batches = data.batches
    data.batches = lambda *a: SignalAtBatch(real_batches(*a))
    try:
        with pytest.raises(Requeued):
            train_small_gan(cfg, data, tmp_path / "preempted", torch.device("cpu"))
    finally:
        preemption.stop_deferring(signal.SIGUSR2)
        signal.signal(signal.SIGUSR2, previous)
        del data.batches
    assert load_checkpoint(tmp_path / "preempted" / CHECKPOINT)["step"] == 6  # the step it was in, finished
    scramble_global_rngs()
    resumed = train_small_gan(cfg, data, tmp_path / "preempted", torch.device("cpu"))
    for part in ("G_ema", "D"):
        assert_state_dicts_equal(expected[part], resumed[part])
    # its curves (benchmark/pretraining/curves.py): both losses at the first and last step, each once
    full, preempted = ((tmp_path / run / "metrics.jsonl").read_text() for run in ("full", "preempted"))
    assert full == preempted and [json.loads(line)["step"] for line in full.splitlines()] == [0, 11]
    assert {"loss_d", "loss_g", "lr"} <= set(json.loads(full.splitlines()[0]))
    curves = tensorboard_scalars(tmp_path / "preempted" / "tensorboard")
    assert [step for step, _ in curves["loss/loss_d"]] == [0, 11] and "loss/loss_g" in curves


def test_a_shorter_gan_training_is_the_longer_one_s_snapshot(tmp_path, fmnist_replica, one_thread):
    """experiment=fid_vs_acc's snapshots: the small GAN trained for k steps is, bitwise, the state a longer
    training checkpoints at step k (a constant learning rate, nothing that depends on the total)."""
    from benchmark.generators.train_small_gan import train_small_gan

    cfg = {"z_dim": 16, "w_dim": 32, "g_channels": 32, "d_channels": 8, "spectral_norm": False, "steps": 12,
           "batch_size": 8, "lr": 2e-4, "betas": [0.5, 0.999], "ema_decay": 0.9, "seed": 0, "checkpoint_every": 6}
    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    (tmp_path / "long").mkdir(), (tmp_path / "short").mkdir()
    train_small_gan(cfg, data, tmp_path / "long", torch.device("cpu"))
    snapshot = load_checkpoint(tmp_path / "long" / CHECKPOINT)
    assert snapshot["step"] == 6
    short = train_small_gan({**cfg, "steps": 6}, data, tmp_path / "short", torch.device("cpu"))
    for part in ("G_ema", "D"):
        # w_avg is computed once training ends, from the mapping network the snapshot holds
        assert_state_dicts_equal({k: v for k, v in snapshot[part].items() if k != "w_avg"},
                                 {k: v for k, v in short[part].items() if k != "w_avg"})
