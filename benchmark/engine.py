"""The pretraining engine: one loop for every method.

Each step draws round(alpha B) synthetic samples from the frozen generator and the rest from the
real set (``Method.split_batch``), calls ``Method.training_step`` and optimises ``out["loss"]`` with
SGD + momentum, lr = base_lr * B / 256, linear warm-up then cosine decay to zero (a parameter group
that a method marks ``fixed_lr``, like SimSiam's predictor, stays at the peak lr). bf16 autocast on
CUDA, channels-last memory everywhere (it also speeds up CPU convolutions by about a third).
A checkpoint is written atomically every ``checkpoint_every`` steps, and a run that finds one resumes.

Resuming is exact: the checkpoint holds the method's state, the optimizer's, the step (the lr is a
function of it), the real-data sampler's permutation and position, the generator-sampling RNG, and
torch's (CPU and CUDA), Python's and NumPy's global RNGs, so on the CPU with ``deterministic: true``
a run killed at any step and resumed ends with bitwise the weights of an uninterrupted run. Each
checkpoint carries a sha256 of its payload; the one it replaces is kept as ``checkpoint.prev.pt``,
and a damaged latest checkpoint falls back to it (both damaged: the run starts over), with a warning.
"""
from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm import tqdm

from benchmark.artifacts import CorruptCheckpointError, load_checkpoint, save_checkpoint
from benchmark.interfaces import Batch, Generator, Method

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
CHECKPOINT_FILES = (CHECKPOINT, PREVIOUS_CHECKPOINT)


def global_rng_state() -> dict:
    """Every process-wide RNG a training step may draw from (augmentations use torch's global one)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {"torch": torch.get_rng_state(), "cuda": cuda, "python": random.getstate(),
            "numpy": np.random.get_state()}


def set_global_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            log.warning("the checkpoint has the RNG states of %d CUDA devices, this process sees %d; "
                        "restoring the first only, so the resumed run is not bitwise exact",
                        len(state["cuda"]), torch.cuda.device_count())
            torch.cuda.set_rng_state(state["cuda"][0])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def load_latest_checkpoint(out_dir: Path) -> Optional[dict]:
    """The newest intact checkpoint in out_dir (checkpoint.pt, else checkpoint.prev.pt), or None."""
    damaged = []
    for name in CHECKPOINT_FILES:
        path = Path(out_dir) / name
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
        except CorruptCheckpointError as e:
            damaged.append(path)
            log.warning("checkpoint %s is corrupt (%s)%s", path, e,
                        "; trying the previous one" if name == CHECKPOINT else "")
            continue
        if damaged or name != CHECKPOINT:
            log.warning("resuming from the previous checkpoint %s (step %d)", path, state["step"])
        return state
    if damaged:
        log.warning("no intact checkpoint in %s (%s damaged): pretraining starts over from step 0",
                    out_dir, ", ".join(p.name for p in damaged))
    return None


def _sampler_state(batches) -> Optional[dict]:
    """The real-data sampler's position, when it can tell it (``InMemoryImages.batches`` can)."""
    return batches.state_dict() if hasattr(batches, "state_dict") else None


def remove_checkpoints(out_dir: Path) -> None:
    for name in CHECKPOINT_FILES:
        (Path(out_dir) / name).unlink(missing_ok=True)


def lr_at(step: int, total: int, base_lr: float, warmup: int) -> float:
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(method: Method, cfg: dict) -> torch.optim.Optimizer:
    groups = [{"fixed_lr": False, **group} for group in method.parameter_groups()]
    return torch.optim.SGD(groups, lr=cfg["base_lr"] * cfg["batch_size"] / 256, momentum=cfg["momentum"],
                           weight_decay=cfg["weight_decay"])


def pretrain(method: Method, generator: Optional[Generator], real_dataset, cfg: dict, out_dir: Path,
             device: torch.device, seed: int) -> dict:
    """Train ``method`` for ``cfg["steps"]`` steps; returns run statistics. Resumes from out_dir."""
    method.to(device).to(memory_format=torch.channels_last).train()
    optimizer = build_optimizer(method, cfg)
    peak_lr = optimizer.param_groups[0]["lr"]
    n_syn, n_real = method.split_batch(cfg["batch_size"])
    if n_syn and generator is None:
        raise ValueError(f"method {method.name!r} samples {n_syn} synthetic images a step but no generator is set")
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
        set_global_rng_state(state["rng"])
        start = state["step"]
        log.info("resuming pretraining at step %d from %s", start, out_dir)
    deterministic = bool(cfg.get("deterministic", False))
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _train(method, generator, optimizer, peak_lr, n_syn, n_real, real_batches, data_rng, sample_rng,
                      cfg, out_dir, device, start)
    finally:
        if deterministic:
            torch.use_deterministic_algorithms(was_deterministic)


def _train(method, generator, optimizer, peak_lr, n_syn, n_real, real_batches, data_rng, sample_rng, cfg, out_dir,
           device, start) -> dict:
    t0 = time.time()
    out = {}
    with open(out_dir / "metrics.jsonl", "a") as metrics_file:
        bar = tqdm(range(start, cfg["steps"]), desc=f"pretraining {method.name}", initial=start, total=cfg["steps"],
                   mininterval=2)
        for step in bar:
            lr = lr_at(step, cfg["steps"], peak_lr, cfg["warmup_steps"])
            for group in optimizer.param_groups:
                group["lr"] = peak_lr if group["fixed_lr"] else lr
            with torch.no_grad():
                syn = generator.sample(n_syn, rng=sample_rng) if n_syn else None
            real = next(real_batches).to(device, non_blocking=True) if n_real else None
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = method.training_step(Batch(syn=syn, real=real))
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{method.name}: loss is {loss.item()} at step {step}; "
                                         f"terms: { {k: v.item() for k, v in out.items()} }")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % cfg["log_every"] == 0 or step + 1 == cfg["steps"]:
                values = {k: round(v.item(), 5) for k, v in out.items()}
                bar.set_postfix(loss=f"{values['loss']:.3f}")
                metrics_file.write(json.dumps({"step": step, "lr": lr, **values}) + "\n")
                metrics_file.flush()
            if (step + 1) % cfg["checkpoint_every"] == 0 and step + 1 < cfg["steps"]:
                save_checkpoint({"method": method.state_dict(), "optimizer": optimizer.state_dict(),
                                 "data_rng": data_rng.get_state(), "sample_rng": sample_rng.get_state(),
                                 "real_sampler": _sampler_state(real_batches),
                                 "rng": global_rng_state(), "step": step + 1},
                                out_dir / CHECKPOINT, previous=out_dir / PREVIOUS_CHECKPOINT)
    final = {k: v.item() for k, v in out.items()}
    return {"seconds": time.time() - t0, "steps": cfg["steps"], "resumed_from": start, "final_losses": final}
