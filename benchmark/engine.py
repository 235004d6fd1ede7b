"""The pretraining engine: one loop for every method.

Each step draws round(alpha B) synthetic samples from the frozen generator and the rest from the
real set (``Method.split_batch``), calls ``Method.training_step`` and optimises ``out["loss"]`` with
SGD + momentum, lr = base_lr * B / 256, linear warm-up then cosine decay to zero (a parameter group
that a method marks ``fixed_lr``, like SimSiam's predictor, stays at the peak lr). bf16 autocast on
CUDA, channels-last memory everywhere (it also speeds up CPU convolutions by about a third).
A checkpoint is written atomically every ``checkpoint_every`` steps, and a run that finds one resumes.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Optional

import torch
from tqdm import tqdm

from benchmark.artifacts import atomic_torch_save
from benchmark.interfaces import Batch, Generator, Method

log = logging.getLogger(__name__)


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
    start = 0
    ckpt = out_dir / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)  # RNG states must stay on the CPU
        method.load_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        data_rng.set_state(state["data_rng"])
        sample_rng.set_state(state["sample_rng"])
        torch.set_rng_state(state["torch_rng"])
        start = state["step"]
        log.info("resuming pretraining at step %d from %s", start, ckpt)
    real_batches = real_dataset.batches(n_real, data_rng) if n_real else None
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
                atomic_torch_save({"method": method.state_dict(), "optimizer": optimizer.state_dict(),
                                   "data_rng": data_rng.get_state(), "sample_rng": sample_rng.get_state(),
                                   "torch_rng": torch.get_rng_state(), "step": step + 1}, ckpt)
    final = {k: v.item() for k, v in out.items()}
    return {"seconds": time.time() - t0, "steps": cfg["steps"], "resumed_from": start, "final_losses": final}
