"""The pretraining engine: one loop for every method.

Each step draws round(alpha B) synthetic samples from the frozen generator and the rest from the
real set (``Method.split_batch``), calls ``Method.training_step`` and optimises ``out["loss"]`` with
SGD + momentum, lr = base_lr * B / 256, linear warm-up then cosine decay to zero (a parameter group
that a method marks ``fixed_lr``, like SimSiam's predictor, stays at the peak lr). ``lr_schedule``:
``per_step`` decays the lr a little every step; ``per_epoch`` holds it for ``steps_per_epoch`` steps
and decays it once per epoch, as the Squeeze-and-Span authors' code does (epoch e of E at
base * (1 + cos(pi e / E)) / 2, so the last epoch does not reach zero). ``autocast``: ``bfloat16``
runs the method under bf16 autocast on CUDA (fast; the embedded preset), ``none`` in float32 as the
Squeeze-and-Span authors' code (the paper presets; TF32 convolutions where torch enables them).
Channels-last memory everywhere (it also speeds up CPU convolutions by about a third).
A checkpoint is written atomically every ``checkpoint_every`` steps, and at the end of the step during
which SLURM signalled a preemption or the time limit (benchmark/preemption.py); a run that finds one
resumes.

On several processes (``parallel``, benchmark/pretraining/distributed.py) ``batch_size`` is the global batch: each
process draws the global batch's indices and latents, keeps its rows, trains through DDP with
synchronised BatchNorm, and logs the mean over processes; only the first process writes files.

``precision`` (``pretrain.precision``, declared with ``deterministic`` in every preset): float32 trains in float32
(under ``autocast``); ``float64`` runs the method, the generator and the data in double precision on the CPU, to check
that two computations are the same up to rounding (e.g. one process against several) without float32's
rounding, which BatchNorm over small smoke batches amplifies step after step.

Resuming is exact: the checkpoint holds the method's state, the optimizer's, the step (the lr is a
function of it), the real-data sampler's permutation and position, the generator-sampling RNG, and
torch's (CPU and CUDA), Python's and NumPy's global RNGs (each process's own, with several), so on the
CPU with ``deterministic: true`` a run killed at any step and resumed ends with bitwise the weights of an
uninterrupted run. Each checkpoint carries a sha256 of its payload; the one it replaces is kept as
``checkpoint.prev.pt``, and a damaged latest checkpoint falls back to it (both damaged: the run starts
over), with a warning.
"""
from __future__ import annotations

import inspect
import logging
import math
import time
from pathlib import Path
from typing import Optional

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from benchmark import preemption
from benchmark.checkpoints import (
    CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    global_rng_state,
    load_latest_checkpoint,
    save_checkpoint,
    set_global_rng_state,
)
from benchmark.interfaces import Batch, Generator, Method
from benchmark.pretraining.curves import TrainingCurves
from benchmark.pretraining.distributed import SINGLE_PROCESS, DataParallel, TrainingStep, synchronize_batchnorm

log = logging.getLogger(__name__)
PRECISIONS = ("float32", "float64")
LR_SCHEDULES = ("per_step", "per_epoch")
AUTOCASTS = ("bfloat16", "none")  # pretrain.autocast, on CUDA only
# Buffers are not broadcast before every forward: synchronised BatchNorm keeps every process's running
# statistics equal, and the generator's buffers never change (torch 2.13 renamed the option).
NO_BUFFER_SYNC_EACH_STEP = ({"forward_sync_buffers": False}
                            if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
                            else {"broadcast_buffers": False})


def checkpoint_rng_states(parallel: DataParallel) -> dict:
    """This process's global RNG states, and with several processes every process's in rank order (a
    collective): processes may have drawn differently (each GPU has its own generator), and each resumes
    with its own."""
    own = global_rng_state()
    return {"rng": own, "rng_by_rank": parallel.all_gather_objects(own) if parallel.distributed else None}


def restore_rng_states(state: dict, parallel: DataParallel) -> None:
    by_rank = state.get("rng_by_rank")
    if not parallel.distributed:
        set_global_rng_state(state["rng"])
    elif by_rank is not None and len(by_rank) == parallel.world_size:
        set_global_rng_state(by_rank[parallel.rank])
    else:
        log.warning("the checkpoint was written by %s process(es), this run has %d: every process resumes with "
                    "the first one's RNG states, so the resumed run is not bitwise exact",
                    len(by_rank) if by_rank else 1, parallel.world_size)
        set_global_rng_state(state["rng"])


def _sampler_state(batches) -> Optional[dict]:
    """The real-data sampler's position, when it can tell it (``InMemoryImages.batches`` can)."""
    return batches.state_dict() if hasattr(batches, "state_dict") else None


def lr_at(step: int, total: int, base_lr: float, warmup: int, schedule: str = "per_step",
          steps_per_epoch: Optional[int] = None) -> float:
    """The learning rate of ``step`` (0-based) of ``total``: see the module doc for the two schedules."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "per_epoch":
        epochs = math.ceil((total - warmup) / steps_per_epoch)
        progress = ((step - warmup) // steps_per_epoch) / epochs
    else:
        progress = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def check_schedule(cfg: dict) -> None:
    schedule = cfg["lr_schedule"]  # launch/preset/*.yaml declares it (and steps_per_epoch)
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"pretrain.lr_schedule={schedule!r}: choose one of {LR_SCHEDULES}")
    if cfg["autocast"] not in AUTOCASTS:
        raise ValueError(f"pretrain.autocast={cfg['autocast']!r}: choose one of {AUTOCASTS}")
    steps_per_epoch = cfg["steps_per_epoch"]
    if schedule == "per_epoch" and (not isinstance(steps_per_epoch, int) or steps_per_epoch < 1):
        raise ValueError(f"pretrain.lr_schedule=per_epoch needs pretrain.steps_per_epoch, a positive integer "
                         f"(97 in the authors' CIFAR recipe); got {steps_per_epoch!r}")


def build_optimizer(method: Method, cfg: dict) -> torch.optim.Optimizer:
    groups = [{"fixed_lr": False, **group} for group in method.parameter_groups()]
    return torch.optim.SGD(groups, lr=cfg["base_lr"] * cfg["batch_size"] / 256, momentum=cfg["momentum"],
                           weight_decay=cfg["weight_decay"])


def pretrain(method: Method, generator: Optional[Generator], real_dataset, cfg: dict, out_dir: Path,
             device: torch.device, seed: int, parallel: DataParallel = SINGLE_PROCESS) -> dict:
    """Train ``method`` for ``cfg["steps"]`` steps; returns run statistics. Resumes from out_dir."""
    precision = cfg["precision"]  # launch/preset/*.yaml declares both
    if precision not in PRECISIONS:
        raise ValueError(f"pretrain.precision={precision!r}: choose one of {PRECISIONS}")
    if precision == "float64" and device.type != "cpu":
        raise ValueError("pretrain.precision=float64 is for exactness checks on the CPU; use device=cpu")
    check_schedule(cfg)
    dtype = torch.float64 if precision == "float64" else torch.float32
    method.to(device, dtype).to(memory_format=torch.channels_last).train()
    if generator is not None:
        generator.to(dtype)
    optimizer = build_optimizer(method, cfg)
    peak_lr = optimizer.param_groups[0]["lr"]
    n_syn, n_real = method.split_batch(cfg["batch_size"])
    if n_syn and generator is None:
        raise ValueError(f"method {method.name!r} samples {n_syn} synthetic images a step but no generator is set")
    parallel.local_size(n_syn, f"synthetic share ({n_syn} images)")
    parallel.local_size(n_real, f"real share ({n_real} images)")
    data_rng = torch.Generator().manual_seed(seed)
    sample_rng = torch.Generator(device).manual_seed(seed)
    real_batches = real_dataset.batches(n_real, data_rng) if n_real else None
    start = 0
    state = load_latest_checkpoint(out_dir)
    if state is not None:
        method.load_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        data_rng.set_state(state["data_rng"])
        sample_rng.set_state(state["sample_rng"])
        if state.get("real_sampler") is not None and hasattr(real_batches, "load_state_dict"):
            real_batches.load_state_dict(state["real_sampler"])
        restore_rng_states(state, parallel)
        start = state["step"]
        log.info("resuming pretraining at step %d from %s", start, out_dir)
    deterministic = bool(cfg["deterministic"])
    was_deterministic, default_dtype = torch.are_deterministic_algorithms_enabled(), torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # latents and augmentation parameters are drawn in it
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    restore_batchnorm = None
    train_step = method.training_step
    if parallel.distributed:
        if parallel.sync_batchnorm:
            restore_batchnorm = synchronize_batchnorm(method, device)
        train_step = DDP(
            TrainingStep(method), device_ids=[device.index] if device.type == "cuda" else None,
            **NO_BUFFER_SYNC_EACH_STEP)
    loop = TrainingLoop(method, train_step, generator, optimizer, peak_lr, n_syn, n_real, real_batches, data_rng,
                        sample_rng, cfg, out_dir, device, parallel)
    try:
        with preemption.running_steps():
            return loop.run(start)
    finally:
        torch.set_default_dtype(default_dtype)
        if restore_batchnorm is not None:
            restore_batchnorm()
        if dtype != torch.float32:  # evaluation and the saved weights are float32
            method.float()
            if generator is not None:
                generator.float()
        if deterministic:
            torch.use_deterministic_algorithms(was_deterministic)


class TrainingLoop:
    """The steps from ``start`` to ``cfg["steps"]``, with logging and checkpoints."""

    def __init__(self, method, train_step, generator, optimizer, peak_lr, n_syn, n_real, real_batches, data_rng,
                 sample_rng, cfg, out_dir, device, parallel: DataParallel):
        self.method, self.train_step, self.generator, self.optimizer = method, train_step, generator, optimizer
        self.peak_lr, self.n_syn, self.n_real, self.real_batches = peak_lr, n_syn, n_real, real_batches
        self.data_rng, self.sample_rng, self.cfg, self.out_dir = data_rng, sample_rng, cfg, out_dir
        self.device, self.parallel = device, parallel
        self.autocast = device.type == "cuda" and cfg["autocast"] == "bfloat16"

    def batch(self) -> Batch:
        """This process's rows of the step's global batch (all of it in one process)."""
        syn = real = None
        with torch.no_grad():
            if self.n_syn and self.parallel.distributed:
                syn = self.generator.sample_rows(self.n_syn, self.parallel.rows(self.n_syn), rng=self.sample_rng)
            elif self.n_syn:
                syn = self.generator.sample(self.n_syn, rng=self.sample_rng)
        if self.n_real:
            real = next(self.real_batches)[self.parallel.rows(self.n_real)]
            real = real.to(self.device, torch.get_default_dtype(), non_blocking=True)
        return Batch(syn=syn, real=real)

    def save_checkpoint(self, steps_done: int) -> None:
        rng = checkpoint_rng_states(self.parallel)  # every process takes part
        if self.parallel.is_main:
            save_checkpoint({"method": self.method.state_dict(), "optimizer": self.optimizer.state_dict(),
                             "data_rng": self.data_rng.get_state(), "sample_rng": self.sample_rng.get_state(),
                             "real_sampler": _sampler_state(self.real_batches), **rng, "step": steps_done},
                            self.out_dir / CHECKPOINT, previous=self.out_dir / PREVIOUS_CHECKPOINT)
        self.parallel.barrier()  # no process moves on (or exits) before the checkpoint is on disk

    def run(self, start: int) -> dict:
        cfg, method, parallel = self.cfg, self.method, self.parallel
        t0 = time.time()
        values = {}
        curves = TrainingCurves(self.out_dir, start, cfg["batch_size"]) if parallel.is_main else None
        try:
            bar = tqdm(range(start, cfg["steps"]), desc=f"pretraining {method.name}", initial=start,
                       total=cfg["steps"], mininterval=2, disable=not parallel.is_main)
            for step in bar:
                lr = lr_at(step, cfg["steps"], self.peak_lr, cfg["warmup_steps"], cfg["lr_schedule"],
                           cfg["steps_per_epoch"])
                for group in self.optimizer.param_groups:
                    group["lr"] = self.peak_lr if group["fixed_lr"] else lr
                method.begin_step(step, cfg["steps"])
                batch = self.batch()
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                    out = self.train_step(batch)
                loss = out["loss"]
                # one collective (and host sync) a step for both: every process stops, or checkpoints, together
                diverged, signalled = parallel.any_process(self.device, not torch.isfinite(loss),
                                                           preemption.pending())
                if diverged:
                    terms = parallel.mean_over_processes(out)
                    raise FloatingPointError(f"{method.name}: loss is {terms['loss']} at step {step} "
                                             f"(mean over {parallel.world_size} process(es)); terms: {terms}")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                with torch.no_grad():
                    method.after_optimizer_step()
                last = step + 1 == cfg["steps"]
                if step % cfg["log_every"] == 0 or last:
                    values = parallel.mean_over_processes(out)
                    if curves is not None:
                        bar.set_postfix(loss=f"{values['loss']:.3f}")
                        curves.log(step, values, lr=lr)
                if last:
                    if signalled:  # by any process: every one hands it on once the caller has saved the weights
                        preemption.signalled_elsewhere()
                    break
                preemption.end_of_step(step + 1, self.save_checkpoint, cfg["checkpoint_every"], signalled)
        finally:
            if curves is not None:
                curves.close()
        return {"seconds": time.time() - t0, "steps": cfg["steps"], "resumed_from": start, "final_losses": values,
                "processes": parallel.world_size}
