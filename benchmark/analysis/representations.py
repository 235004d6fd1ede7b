"""A generator's three representations of its own samples, the inputs of the poster's Fig. 2.

Fig. 2 of the Squeeze-and-Span poster (Yang, Cheng, Liu, Bilen, Ji, NeurIPS 2022) embeds, for 50,000 samples of
the unconditional CIFAR-10 StyleGAN2-ADA, three vectors per sample and colours them by the class a CIFAR-10
classifier assigns to the sample's image (the authors' ``plot_umap.py``):

- ``"discriminator"``: the GAN discriminator on the sample's image: the outputs of its blocks (b32, b16, b8 for
  32 px), each globally average pooled, concatenated fine to coarse, then the flat input of its final fc layer
  (StyleGAN2-ADA: the output of ``b4.fc``, what ``b4.out`` reads, as the authors hook it; the small GAN: its
  flattened last block). Read through the suite's handle ``generator.discriminator.features(images)``;
- ``"latent"``: the flattened W+. The suite's generators hand out one w per sample (``GeneratorOutput.w``, (N,
  w_dim)); StyleGAN2-ADA's W+ at truncation 1 without style mixing is ``num_ws`` identical copies of it, so the
  authors' flattened W+ is w repeated, whose distances are w's times sqrt(num_ws): k-NN, silhouette and UMAP
  (whose neighbourhood widths adapt to each point's distances) read the same structure from w alone, which is
  what is kept (one vector, not num_ws copies). A generator that returns per-layer ws (N, L, w_dim) has them
  flattened;
- ``"generator"``: every synthesis block's output globally average pooled and concatenated coarse to fine, the
  vanilla distillation target (``methods.vanilla_distillation.pooled_generator_features``).

Nothing is standardised (neither do the authors). Rows are float32, one per sample, in sampling order.
The StyleGAN2-ADA discriminator's minibatch-stddev layer makes the fc part depend on the other images of the
batch (the authors used batches of 16), so ``batch_size`` is part of what is measured and is recorded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import numpy as np
import torch
from tqdm import tqdm

from benchmark.interfaces import Generator
from benchmark.toolkit import at_least_float32
from methods.vanilla_distillation import pooled_generator_features

log = logging.getLogger(__name__)

# Display order: the poster's Fig. 2 panels, left to right.
REPRESENTATIONS = ("discriminator", "latent", "generator")

Labeler = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Representations:
    arrays: dict[str, np.ndarray]  # REPRESENTATIONS order; "discriminator" absent when the GAN has none
    labels: np.ndarray             # (n,) int64 class ids
    images: Optional[np.ndarray]   # (n, C, H, W) uint8 (the [-1, 1] images mapped to 0..255), if kept
    layout: dict[str, str] = field(default_factory=dict)  # per representation: what its columns are


def as_label_fn(labeler) -> Optional[Labeler]:
    """``labeler`` as a function images -> (N,) class ids: an object with ``predict`` (a trained classifier)
    gives that method; a callable is used as is; None stays None (the generator's own labels)."""
    if labeler is None:
        return None
    fn = getattr(labeler, "predict", None)
    fn = fn if callable(fn) else labeler
    if not callable(fn):
        raise TypeError(f"labeler must be None, a callable images -> labels or have .predict, not {type(labeler)}")
    return fn


def _labels_from(fn: Optional[Labeler], images: torch.Tensor, own: Optional[torch.Tensor],
                 generator: Generator) -> torch.Tensor:
    if fn is None:
        if own is None:
            raise ValueError(f"labeler=None takes the generator's own labels, but {type(generator).__name__} is "
                             "unconditional (its samples carry no labels): pass a labeler, e.g. a classifier's "
                             "predict (benchmark/quality/reference_classifier.py)")
        return own
    labels = torch.as_tensor(fn(images))
    if labels.ndim == 2:  # class scores, as the authors' classifier gives: the top class, as they take it
        labels = labels.argmax(dim=1)
    if labels.shape != (len(images),):
        raise ValueError(f"the labeler returned shape {tuple(labels.shape)} for {len(images)} images; "
                         "expected one class id per image")
    if labels.is_floating_point():
        raise ValueError("the labeler returned floating-point labels; expected integer class ids")
    return labels


def discriminator_row(maps: list[torch.Tensor], fc_input: torch.Tensor) -> torch.Tensor:
    """What ``discriminator.features`` gives, as one vector per image: pooled maps, then the fc input."""
    # pooled_generator_features is the suite's global-average-pool-and-concatenate; it suits any list of maps
    return torch.cat([pooled_generator_features(maps), at_least_float32(fc_input).flatten(1)], dim=1)


def _layout(generator: Generator, discriminator_widths: Optional[tuple]) -> dict[str, str]:
    layout = {}
    if discriminator_widths is not None:
        channels, fc_width = discriminator_widths
        layout["discriminator"] = (f"block outputs pooled fine to coarse ({', '.join(map(str, channels))} "
                                   f"channels) + final fc input ({fc_width})")
    layout["latent"] = "w per sample (W+ flattened when the generator gives per-layer ws)"
    layout["generator"] = ("synthesis block outputs pooled coarse to fine ("
                           + ", ".join(f"{n} {s[0]}" for n, s in zip(generator.feature_names,
                                                                       generator.feature_shapes)) + " channels)")
    return layout


@torch.no_grad()
def generator_representations(generator: Generator, n: int, batch_size: int, device: Union[str, torch.device],
                              seed: int, labeler=None, keep_images: bool = True,
                              progress: bool = True) -> Representations:
    """The three representations (module doc) and a label for ``n`` samples of ``generator``.

    ``labeler``: None = the generator's own ``labels`` (a conditional generator; an error otherwise), or a
    callable images in [-1, 1] (on ``device``) -> (N,) class ids (or (N, K) scores, of which the top class is
    taken), or an object with such a ``predict``. ``seed`` fixes the latents (a ``torch.Generator`` on
    ``device``) and torch's global RNG inside the call (e.g. StyleGAN2-ADA's ``noise_mode: random``), which is
    restored afterwards. The generator is moved to ``device`` and put in eval mode.
    """
    if n < 1 or batch_size < 1:
        raise ValueError(f"n and batch_size must be positive, got n={n}, batch_size={batch_size}")
    device = torch.device(device)
    generator = generator.to(device).eval()
    discriminator = getattr(generator, "discriminator", None)
    if discriminator is None:
        log.info("%s has no discriminator: no 'discriminator' representation", type(generator).__name__)
    else:
        discriminator.eval()
    label_fn = as_label_fn(labeler)
    rng = torch.Generator(device=device).manual_seed(seed)
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in REPRESENTATIONS}
    labels, images, widths = [], [], None
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices), tqdm(total=n, desc="representations", unit="img",
                                                            disable=not progress) as bar:
        torch.manual_seed(seed)  # every device's global RNG, restored by fork_rng on the way out
        done = 0
        while done < n:
            b = min(batch_size, n - done)
            out = generator.sample(b, rng=rng)
            if discriminator is not None:
                maps, fc_input = discriminator.features(out.images)
                widths = widths or ([m.shape[1] for m in maps], fc_input[0].numel())
                chunks["discriminator"].append(discriminator_row(maps, fc_input).cpu().float().numpy())
            chunks["latent"].append(at_least_float32(out.w).flatten(1).cpu().float().numpy())
            chunks["generator"].append(pooled_generator_features(out.features).cpu().float().numpy())
            labels.append(_labels_from(label_fn, out.images, out.labels, generator).long().cpu().numpy())
            if keep_images:
                images.append(((out.images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy())
            done += b
            bar.update(b)
    arrays = {k: np.ascontiguousarray(np.concatenate(v), dtype=np.float32) for k, v in chunks.items() if v}
    return Representations(arrays=arrays, labels=np.concatenate(labels).astype(np.int64),
                           images=np.concatenate(images) if keep_images else None,
                           layout=_layout(generator, widths))
