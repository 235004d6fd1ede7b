"""``generator=small_gan``: the built-in GAN, trained by the suite on the ``data`` set and cached.

The artifact (``artifacts/generators/small_gan-<hash>/``) holds the EMA generator, the discriminator
(kept for the discriminator-feature methods), the training config and a sample grid. Its hash covers
the GAN config and the data config, so a different recipe or data set trains a new GAN.

``gan.pt`` is a verified artifact (benchmark/verified_artifacts.py: a sha256 sidecar ``gan.pt.sha256`` written before
it): a truncated or altered file, or one whose sidecar is, is named in a warning, moved aside to
``gan.pt.damaged-<UTC time>`` and the GAN trained again; one written before sidecars existed is accepted
once, with a warning, and its digest recorded then.
"""
from __future__ import annotations

import json
import logging

import torch
import torchvision

from benchmark import preemption
from benchmark.artifacts import artifact_dir, atomic_write, atomic_write_text, exclusive
from benchmark.verified_artifacts import load_or_set_aside, save_verified
from benchmark.data import build_dataset
from benchmark.checkpoints import remove_checkpoints
from benchmark.generators.train_small_gan import build_networks, train_small_gan
from benchmark.registry import GENERATORS

log = logging.getLogger(__name__)


@GENERATORS.register("small_gan")
def small_gan(cfg: dict, data_cfg, artifacts_root: str, device: torch.device):
    data_cfg = dict(data_cfg)
    key = {"generator": cfg, "data": {k: v for k, v in data_cfg.items() if k not in ("root", "cache_dir", "download")}}
    out_dir = artifact_dir(artifacts_root, "generators", "small_gan", key)
    weights = out_dir / "gan.pt"
    dataset = None
    with exclusive(out_dir):  # concurrent jobs (a sweep's, the processes of one run) train it once
        state = load_or_set_aside(weights, "trained GAN", "training the GAN again")
        if state is not None:
            log.info("reusing the trained GAN %s", weights)
            channels, resolution = state["image_channels"], state["resolution"]
        else:
            log.info("training the GAN (no artifact at %s)", out_dir)
            dataset = build_dataset(data_cfg, "train")
            channels, resolution = dataset.channels, dataset.image_size
            with preemption.running_steps():  # a preemption signal in the last step is handed on once saved
                state = train_small_gan(cfg, dataset, out_dir, device)
                state.update(image_channels=channels, resolution=resolution, config=key)
                save_verified(state, weights)
                remove_checkpoints(out_dir)
                atomic_write_text(out_dir / "config.json", json.dumps(key, indent=2))
    G, D = build_networks(cfg, channels, resolution)
    G.update_w_avg()  # creates the buffer that the state dict fills
    G.load_state_dict(state["G_ema"])
    D.load_state_dict(state["D"])
    G.discriminator = D.eval().requires_grad_(False)
    G = G.to(device).eval().requires_grad_(False)
    G.artifact_dir = str(out_dir)
    G.reused = dataset is None
    grid = out_dir / "samples.png"
    if not (G.reused and grid.exists()):  # a GAN trained again (its file was damaged) shows its own samples
        with torch.no_grad():
            images = G.sample(64, rng=torch.Generator(device).manual_seed(0)).images
        atomic_write(grid, lambda f: torchvision.utils.save_image(images * 0.5 + 0.5, f, nrow=8, format="png"))
    return G
