"""Training the built-in small GAN on a real image set, cached as an artifact keyed by its config.

Loss: the non-saturating logistic GAN loss (Goodfellow et al., 2014) with a spectrally normalised
discriminator. The generator used downstream is an exponential moving average of the trained one
(Karras et al., 2018), which gives cleaner samples for the same number of steps.

Checkpoints are the pretraining engine's (verified, atomic, the previous one kept) and hold every RNG and
the sampler's position, so an interrupted training resumes exactly; SLURM's preemption signal checkpoints
the current step (benchmark/preemption.py).
"""
from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from benchmark import preemption
from benchmark.pretraining.curves import TrainingCurves
from benchmark.checkpoints import (CHECKPOINT, PREVIOUS_CHECKPOINT, global_rng_state, load_latest_checkpoint,
                                   save_checkpoint, set_global_rng_state)
from benchmark.generators.small_gan import SmallDiscriminator, SmallGenerator

log = logging.getLogger(__name__)
LOG_EVERY = 50  # steps between two points of the curves (metrics.jsonl, TensorBoard)


def build_networks(cfg: dict, image_channels: int, resolution: int):
    G = SmallGenerator(cfg["z_dim"], cfg["w_dim"], cfg["g_channels"], resolution, image_channels)
    D = SmallDiscriminator(cfg["d_channels"], resolution, image_channels, cfg.get("spectral_norm", True))
    return G, D


def train_small_gan(cfg: dict, dataset, out_dir: Path, device: torch.device) -> dict:
    """Train G and D for ``cfg["steps"]`` steps; checkpoints every ``checkpoint_every`` and resumes."""
    torch.manual_seed(cfg["seed"])
    G, D = build_networks(cfg, dataset.channels, dataset.image_size)
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    betas = tuple(cfg["betas"])
    opt_g = torch.optim.Adam(G.parameters(), cfg["lr"], betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), cfg["lr"], betas=betas)
    rng = torch.Generator().manual_seed(cfg["seed"])
    batches = dataset.batches(cfg["batch_size"], rng)
    start = 0
    state = load_latest_checkpoint(out_dir)  # an interrupted run picks up where it stopped
    if state is not None:
        for module, key in ((G, "G"), (D, "D"), (G_ema, "G_ema"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            module.load_state_dict(state[key])
        batches.load_state_dict(state["sampler"])
        set_global_rng_state(state["rng"])  # z is drawn from torch's global RNG
        start = state["step"]
        log.info("resuming GAN training at step %d from %s", start, out_dir)

    def checkpoint(steps_done: int) -> None:
        save_checkpoint({"G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict(),
                         "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "sampler": batches.state_dict(),
                         "rng": global_rng_state(), "step": steps_done},
                        out_dir / CHECKPOINT, previous=out_dir / PREVIOUS_CHECKPOINT)

    t0 = time.time()
    bar = tqdm(range(start, cfg["steps"]), desc="GAN training", initial=start, total=cfg["steps"], mininterval=2)
    with preemption.running_steps(), TrainingCurves(out_dir, start, cfg["batch_size"]) as curves:
        for step in bar:
            real = next(batches).to(device, non_blocking=True)
            z = torch.randn(len(real), G.z_dim, device=device)
            fake = G(z)
            loss_d = F.softplus(D(fake.detach())).mean() + F.softplus(-D(real)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-D(fake)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            with torch.no_grad():
                for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                    p_ema.lerp_(p, 1.0 - cfg["ema_decay"])
                for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                    b_ema.copy_(b)
            if step % LOG_EVERY == 0 or step + 1 == cfg["steps"]:
                values = {"loss_d": loss_d.item(), "loss_g": loss_g.item()}
                bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()})
                curves.log(step, values, lr=cfg["lr"])
            if step + 1 == cfg["steps"]:
                break  # a signal noted now is handed on once the caller has saved the networks
            preemption.end_of_step(step + 1, checkpoint, cfg["checkpoint_every"])
    G_ema.update_w_avg()
    return {"G_ema": G_ema.state_dict(), "D": D.state_dict(), "train_seconds": time.time() - t0,
            "final_loss_d": loss_d.item(), "final_loss_g": loss_g.item()}
