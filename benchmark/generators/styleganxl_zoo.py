"""``generator=styleganxl``: the released StyleGAN-XL networks (Sauer et al. 2022) behind the Generator interface.

The network pickle (``launch/generator/styleganxl_cifar10.yaml``: the class-conditional CIFAR-10 model, FID 1.85)
is read ONLY through ``benchmark.generators.styleganxl.load_styleganxl_pickle``: official_pickle.py's restricted
unpickler, whose refused globals (those of the projected discriminator ``D``) become inert records that must
not occur in ``G_ema``; no code embedded in the pickle runs. ``G_ema`` is rebuilt as the clean-room network of
benchmark/generators/styleganxl.py from the pickled state and loaded with ``load_state_dict(strict=True)``.
As the official ``gen_images.py``, images come from ``G_ema``.

``discriminator`` is None: StyleGAN-XL's projected discriminator (frozen timm DeiT / EfficientNet features and
small trained heads) is not rebuilt, so the discriminator-feature methods cannot use this generator.

Where the pickle comes from: exactly as ``generator=stylegan2ada`` (stylegan2ada_zoo.fetch_pickle): ``pickle``
(a local file, never touched), else the download cache ``<paths.artifacts>/generators/downloads/<url host>/<url
path>`` filled from ``url``; offline, the error names the URL and the path to put the file at; ``sha256`` pins
the file's digest (null: not verified, the digest is logged and recorded).

Sampling (``sample``): z ~ N(0, I) (64-d) drawn with ``rng`` first, then labels (those given, else ``label`` of
the config for every sample, else uniform random classes drawn with the same ``rng``); c is their one-hot code.
``mapping(z, c, truncation_psi)`` gives the same w for every layer; truncation moves w toward the class's
``w_avg`` row (the official class-wise centre). No noise inputs (StyleGAN3 has none), so the images and
features are a deterministic function of (z, label). Float32 only (styleganxl.py, module doc).

Features: every synthesis layer's output but the ToRGB's (``feature_names`` are the official layer names,
``L0_36_1024`` ...; shapes include the StyleGAN3 margin, e.g. 36 x 36 for the 16-Hz layers).
"""
from __future__ import annotations

import logging
import pickle
from typing import Optional

import torch

from benchmark.errors import RefusedFileError
from benchmark.generators import styleganxl as sx
from benchmark.generators.official_pickle_records import init_kwargs_of
from benchmark.generators.style_generator import MappedStyleGenerator, json_safe
from benchmark.generators.stylegan2ada_zoo import fetch_pickle
from benchmark.interfaces import GeneratorOutput
from benchmark.registry import GENERATORS

log = logging.getLogger(__name__)

DEFAULTS = dict(pickle=None, url=None, expected_file=None, sha256=None, label=None, truncation_psi=1.0)
PICKLE_FORMAT = ("generator=styleganxl reads network pickles written by autonomousvision/stylegan_xl (G_ema of its "
                 "training/networks_stylegan3_resetting.py: Generator or SuperresGenerator, e.g. cifar10.pkl)")


class StyleGANXLGenerator(MappedStyleGenerator):
    """A frozen StyleGAN-XL ``G_ema`` as the suite's Generator; see the module doc."""

    name = "styleganxl"
    family = "StyleGAN-XL"

    def __init__(self, G: sx.Generator, *, truncation_psi: float = 1.0, label: Optional[int] = None):
        super().__init__(G, truncation_psi=truncation_psi, label=label)
        self.discriminator = None  # the projected discriminator is not rebuilt (module doc)

    def _device(self) -> torch.device:
        return self.G.synthesis.input.weight.device

    def synthesize(self, w: torch.Tensor) -> GeneratorOutput:
        """Images (clamped to [-1, 1]) and every non-ToRGB layer's output from w (N, w_dim), used for every
        layer, or per-layer ws (N, num_ws, w_dim); ``w`` of the output is then ws[:, 0]."""
        ws, w = self.per_layer_ws(w)
        images, features = self.G.synthesis(ws, return_features=True)
        return GeneratorOutput(images=images.clamp(-1, 1), features=features, w=w)


@GENERATORS.register("styleganxl")
def styleganxl(cfg: dict, data_cfg=None, artifacts_root: str = "artifacts", device="cpu") -> StyleGANXLGenerator:
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"generator styleganxl has no option(s) {unknown}; valid options: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **cfg}
    if not cfg["pickle"] and not cfg["url"]:
        wanted = cfg.get("expected_file") or "cifar10.pkl"
        raise ValueError(f"generator styleganxl needs generator.pickle (a local file) or generator.url; none is set: "
                         f"pass generator.pickle=/path/to/{wanted}")
    path, provenance = fetch_pickle(cfg, artifacts_root)
    try:
        data = sx.load_styleganxl_pickle(path)
        G = sx.generator_from_record(data["G_ema"])
    except (pickle.UnpicklingError, EOFError, TypeError, KeyError, RuntimeError, ValueError) as e:
        # a refused global in G_ema, a truncated file, or a G_ema whose classes, attributes or weights are not
        # those of StyleGAN-XL's networks_stylegan3_resetting.py (the pickle's own source is never run)
        reason = " ".join(str(e).split()).removeprefix(f"{path}: ")
        raise RefusedFileError(path, f"{type(e).__name__}: {reason}", PICKLE_FORMAT) from e
    gen = StyleGANXLGenerator(G.to(device), truncation_psi=cfg["truncation_psi"], label=cfg["label"])
    gen = gen.to(device).eval().requires_grad_(False)
    gen.reused = not provenance["downloaded"]
    gen.provenance = json_safe({
        **provenance, "networks": ["G_ema"], "G_class": data["G_ema"].class_name,
        "G_init_kwargs": init_kwargs_of(data["G_ema"]),
        "module_src_sha256": data["G_ema"].module_src_sha256,  # identifies the code that pickled it
        "training_set_kwargs": data.get("training_set_kwargs"),
        "layer_names": list(G.synthesis.layer_names), "precision": "float32",
    })
    log.info("StyleGAN-XL %s (%s): %d px, %d channels, %s, z %d, w %d x %d ws, %d feature maps", path.name,
             data["G_ema"].class_name, gen.resolution, gen.image_channels,
             f"{gen.num_classes} classes" if gen.num_classes else "unconditional", gen.z_dim, gen.w_dim,
             gen.num_ws, len(gen.feature_shapes))
    return gen


# what launch.py validates generator.* against before any work (benchmark/orchestration/validation.py)
styleganxl.options = DEFAULTS
styleganxl.option_choices = {}
