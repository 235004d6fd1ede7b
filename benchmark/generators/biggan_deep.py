"""``generator=biggan_deep``: DeepMind's ImageNet BigGAN-deep (Brock et al., ICLR 2019) through the
``pytorch-pretrained-biggan`` package (huggingface/pytorch-pretrained-BigGAN, an optional extra:
``pip install 'ganrep-bench[biggan]'`` or ``pip install pytorch-pretrained-biggan``).

What this adapter relies on, read from the package (``pytorch_pretrained_biggan/model.py``,
``config.py``, ``utils.py``, ``file_utils.py``, version 0.1.1):

* ``BigGAN(config)`` = ``embeddings`` (Linear(num_classes -> z_dim, no bias), applied to a one-hot /
  soft class vector) + ``generator``. ``BigGAN.forward`` builds ``cond_vector = cat(z, embeddings(y))``
  (z first; 2 * z_dim = 256 wide) and calls ``generator(cond_vector, truncation)``; that cond vector is
  this adapter's ``w``.
* ``generator``: ``gen_z`` (SN Linear, cond -> 4*4*16*ch, reshaped channels-last as TF did), then
  ``layers``: ``GenBlock``s (each conditioned on the full cond vector through its BigGANBatchNorms)
  with one ``SelfAttn`` at ``config.attention_layer_position``, then BN, ReLU, ``conv_to_rgb``, the
  first 3 channels, tanh, so images are in [-1, 1]. ``config.layers`` lists ``(up-sample?, in, out)``
  channel multipliers of ``channel_width`` per GenBlock. The features are the GenBlock outputs
  (forward hooks), coarse to fine; the attention layer's output is not one of them.
* BatchNorm statistics depend on the truncation: every BigGANBatchNorm holds ``n_stats`` = 51 sets of
  running means/variances for truncations 0, 0.02, ..., 1, so ``synthesize`` takes the truncation too
  (default: the config's ``truncation``). Off the grid the package mixes the two neighbouring sets
  with the fractional part weighting the *lower* one (the reverse of linear interpolation); kept as it
  is, since it is what the package computes. Multiples of 0.02 use their own set exactly.
* ``truncated_noise_sample``: z = truncation * truncnorm(-2, 2) draws; ``sample`` draws the same
  distribution with torch (the same law, not the same numbers as the package's scipy/numpy sampler).
* ``from_pretrained(name)`` downloads ``config.json`` and ``pytorch_model.bin`` from
  ``PRETRAINED_CONFIG_ARCHIVE_MAP`` / ``PRETRAINED_MODEL_ARCHIVE_MAP`` (s3.amazonaws.com/models.huggingface.co)
  into ``$PYTORCH_PRETRAINED_BIGGAN_CACHE`` (default ``~/.pytorch_pretrained_biggan``) under etag-derived
  names, and so needs the network; ``from_pretrained(folder)`` reads those two files from a folder.

The package's etag-named cache cannot be filled by hand on an offline machine, so this adapter does not
use it: it reads ``config.json`` + ``pytorch_model.bin`` from ``checkpoint`` (a folder, the layout
``from_pretrained(folder)`` takes), or, with ``checkpoint: null``, from the suite's download cache
``<paths.artifacts>/generators/downloads/<url host>/<url path>`` of the package's two URLs, downloading
them there when missing (``download: true``); offline, the error names both URLs and both paths. The
package builds the network (``BigGANConfig``, ``BigGAN``); the weights are read with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from benchmark.generators.pretrained_files import (CheckpointNotFoundError, download_cache_path, ensure_checkpoint,
                                                   load_weights, truncated_normal)
from benchmark.interfaces import Generator, GeneratorOutput
from benchmark.registry import GENERATORS

log = logging.getLogger(__name__)

WEIGHTS_NAME, CONFIG_NAME = "pytorch_model.bin", "config.json"  # the package's folder layout
MODELS = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
INSTALL_HINT = ("pip install pytorch-pretrained-biggan  (or: pip install 'ganrep-bench[biggan]'; with this "
                "repo's venv: env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null .venv/bin/pip install "
                "pytorch-pretrained-biggan)")


def import_package():
    """The ``pytorch_pretrained_biggan`` module, or an ImportError that says how to install it."""
    try:
        import pytorch_pretrained_biggan
    except ImportError as err:
        raise ImportError("generator=biggan_deep needs the optional package pytorch-pretrained-biggan: "
                          + INSTALL_HINT) from err
    return pytorch_pretrained_biggan


class BigGANDeepGenerator(Generator):
    """Wraps the package's ``BigGAN`` (kept as ``self.model``, so its state dict keys are ``model.<package keys>``)."""

    def __init__(self, model, truncation: float = 1.0, class_ids: Optional[list[int]] = None):
        super().__init__()
        pkg = import_package()
        from pytorch_pretrained_biggan.model import GenBlock

        if not isinstance(model, pkg.BigGAN):
            raise TypeError(f"expected a pytorch_pretrained_biggan.BigGAN, got {type(model).__name__}")
        self.model = model
        config = model.config
        self.z_dim, self.num_classes = config.z_dim, config.num_classes
        self.w_dim = 2 * config.z_dim  # cat(z, embeddings(y)); the generator's condition_vector_dim
        self.image_channels, self.resolution = 3, config.output_dim
        self.truncation = self._check_truncation(truncation)
        # the classes ``sample`` draws labels from (``generator.classes``); None = all of them
        if class_ids is not None and (not class_ids or min(class_ids) < 0 or max(class_ids) >= self.num_classes):
            raise ValueError(f"class ids must be a non-empty list in [0, {self.num_classes})")
        self.class_ids = None if class_ids is None else torch.tensor(sorted(set(class_ids)))
        ch, res = config.channel_width, 4
        self.feature_names, self.feature_shapes, self._blocks = [], [], []
        for layer, spec in zip([m for m in model.generator.layers if isinstance(m, GenBlock)], config.layers):
            up, _, out_mult = spec
            res = res * 2 if up else res
            self._blocks.append(layer)
            self.feature_names.append(f"block{len(self._blocks) - 1}_{res}px")
            self.feature_shapes.append((ch * out_mult, res, res))
        if res != config.output_dim:
            raise ValueError(f"config.layers reach {res} px but output_dim is {config.output_dim}")
        self._captured: Optional[list] = None
        self._hooks = [b.register_forward_hook(self._capture) for b in self._blocks]

    def _capture(self, module, inputs, output):
        if self._captured is not None:
            self._captured.append(output)

    @staticmethod
    def _check_truncation(truncation: float) -> float:
        truncation = float(truncation)
        if not 0.0 < truncation <= 1.0:
            raise ValueError(f"BigGAN-deep's truncation must be in (0, 1] (its BN statistics grid), not {truncation}")
        return truncation

    def class_vector(self, labels: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(labels.long(), self.num_classes).to(self.model.embeddings.weight.dtype)
        return self.model.embeddings(one_hot)

    def synthesize(self, w: torch.Tensor, truncation: Optional[float] = None) -> GeneratorOutput:
        """Images and GenBlock outputs from cond vectors ``w = cat(z, embeddings(y))``; ``truncation``
        picks the BatchNorm statistics (default: the one this generator was configured with)."""
        truncation = self.truncation if truncation is None else self._check_truncation(truncation)
        self._captured = []
        try:
            images = self.model.generator(w, truncation)
            features = self._captured
        finally:
            self._captured = None
        return GeneratorOutput(images=images, features=features, w=w)

    def forward(self, z: torch.Tensor, labels: torch.Tensor, truncation: Optional[float] = None) -> torch.Tensor:
        return self.synthesize(torch.cat([z, self.class_vector(labels)], dim=1), truncation).images

    def sample(self, n: int, labels: Optional[torch.Tensor] = None, truncation: Optional[float] = None,
               rng: Optional[torch.Generator] = None) -> GeneratorOutput:
        """z = truncation * truncnorm(-2, 2) (the package's ``truncated_noise_sample``); labels uniform over the
        chosen classes (``class_ids``; all by default) when not given. ``truncation=None`` uses the configured one."""
        truncation = self.truncation if truncation is None else self._check_truncation(truncation)
        device = self.model.embeddings.weight.device
        z = truncated_normal((n, self.z_dim), 2.0, generator=rng, device=device) * truncation
        if labels is None and self.class_ids is None:
            labels = torch.randint(self.num_classes, (n,), device=device, generator=rng)
        elif labels is None:  # uniform over the chosen classes
            labels = self.class_ids.to(device)[torch.randint(len(self.class_ids), (n,), device=device, generator=rng)]
        labels = labels.to(device)
        if len(labels) != n or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be {n} class ids in [0, {self.num_classes})")
        out = self.synthesize(torch.cat([z, self.class_vector(labels)], dim=1), truncation)
        out.labels = labels
        return out


# -------------------------------------------------------------------------------------------- loading
def package_urls(model_name: str) -> tuple[str, str]:
    """(config URL, weights URL) of a released model, from the package's archive maps."""
    import_package()
    from pytorch_pretrained_biggan.model import PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP

    return PRETRAINED_CONFIG_ARCHIVE_MAP[model_name], PRETRAINED_MODEL_ARCHIVE_MAP[model_name]


def imagenet_class_ids(classes) -> Optional[list[int]]:
    """``generator.classes`` as ILSVRC-2012 class indices (the indices BigGAN was trained with: the position of
    the wnid among the 1000 sorted wnids, as timm's ImageNetInfo lists them): null = all classes;
    ``imagenet100`` = the CMC ImageNet-100 list (benchmark/data/imagenet100_classes.txt); or a path to a text
    file with one wnid per line."""
    if classes is None:
        return None
    from timm.data import ImageNetInfo

    from benchmark.data.imagenet import IMAGENET100_LIST

    path = IMAGENET100_LIST if classes == "imagenet100" else Path(str(classes)).expanduser()
    if not path.is_file():
        raise ValueError(f"generator.classes: {classes!r} is neither null, imagenet100 nor a file of wnids "
                         f"(one per line); {path} does not exist")
    info = ImageNetInfo()
    index = {info.index_to_label_name(i): i for i in range(info.num_classes())}
    wnids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    unknown = [w for w in wnids if w not in index]
    if unknown or not wnids:
        raise ValueError(f"generator.classes: {path} lists {len(unknown)} wnid(s) that are not ILSVRC-2012 classes "
                         f"(e.g. {unknown[:3]})" if unknown else f"generator.classes: {path} lists no wnid")
    return [index[w] for w in wnids]


def load_biggan_deep(config_file: Path, weights_file: Path, truncation: float = 1.0,
                     class_ids: Optional[list[int]] = None) -> BigGANDeepGenerator:
    """BigGAN-deep built by the package from ``config.json`` with the weights of ``pytorch_model.bin``."""
    pkg = import_package()
    config = pkg.BigGANConfig.from_json_file(str(config_file))
    model = pkg.BigGAN(config)
    state = load_weights(weights_file)
    # The package itself loads with strict=False; here a missing/unexpected key is an error, except a
    # spectral-norm power-iteration buffer (weight_u/weight_v) that an older torch may not have stored.
    missing, unexpected = model.load_state_dict(state, strict=False)
    serious = [k for k in missing if not k.endswith(("weight_u", "weight_v"))]
    if serious or unexpected:
        raise RuntimeError(f"{weights_file} does not fit BigGAN({config_file}): missing {serious[:8]}, "
                           f"unexpected {unexpected[:8]}")
    if missing:
        log.warning("biggan_deep: %d spectral-norm buffers missing from %s (e.g. %s)", len(missing), weights_file,
                    missing[0])
    return BigGANDeepGenerator(model.eval(), truncation=truncation, class_ids=class_ids)


DEFAULTS = {"model": "biggan-deep-128", "checkpoint": None, "config_url": None, "url": None, "sha256": None,
            "download": True, "truncation": 1.0, "classes": None}


@GENERATORS.register("biggan_deep")
def biggan_deep(cfg: dict, data_cfg, artifacts_root: str, device: torch.device):
    """``checkpoint``: a folder with the package's ``config.json`` + ``pytorch_model.bin``, used as it is;
    ``null``: the download cache (``<paths.artifacts>/generators/downloads/<url host>/<url path>`` of
    ``config_url`` and ``url``, by default the package's URLs for ``model``), downloaded when missing."""
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"generator biggan_deep has no option(s) {unknown}; valid options: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **cfg}
    model_name = cfg["model"]
    if model_name not in MODELS and not (cfg["checkpoint"] or (cfg["url"] and cfg["config_url"])):
        raise ValueError(f"generator.model must be one of {MODELS} (or give checkpoint, or url and config_url), "
                         f"not {model_name!r}")
    what = f"generator biggan_deep ({model_name})"
    if cfg["checkpoint"]:
        folder = Path(cfg["checkpoint"]).expanduser()
        config_file, weights_file = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        if not config_file.is_file():
            raise CheckpointNotFoundError(
                f"{what}: {folder} must hold {CONFIG_NAME} and {WEIGHTS_NAME} (the package's from_pretrained folder "
                f"layout); {config_file} is missing")
        weights_file, provenance = ensure_checkpoint(weights_file, None, cfg["sha256"], False, what)
    else:
        default_config_url, default_url = package_urls(model_name) if model_name in MODELS else (None, None)
        config_url, url = cfg["config_url"] or default_config_url, cfg["url"] or default_url
        note = ("A copy of biggan-deep-128 (config.json, pytorch_model.bin) is also on the Hugging Face Hub: "
                "osanseviero/BigGAN-deep-128; or set generator.checkpoint to a folder holding both files.")
        config_file, _ = ensure_checkpoint(download_cache_path(config_url, artifacts_root), config_url, None,
                                           bool(cfg["download"]), f"{what} config", note=note)
        weights_file, provenance = ensure_checkpoint(download_cache_path(url, artifacts_root), url, cfg["sha256"],
                                                     bool(cfg["download"]), f"{what} weights", note=note)
        provenance["config"] = str(config_file)
    class_ids = imagenet_class_ids(cfg["classes"])
    G = load_biggan_deep(config_file, weights_file, truncation=cfg["truncation"], class_ids=class_ids)
    G = G.to(device).eval().requires_grad_(False)
    G.reused = not provenance["downloaded"]
    G.provenance = {**provenance, "model": model_name, "truncation": G.truncation, "classes": cfg["classes"]}
    log.info("%s: %d px, %d classes (sampling %s), z %d, w %d, %d GenBlock features, truncation %.2f", model_name,
             G.resolution, G.num_classes, "all" if class_ids is None else f"{len(set(class_ids))}: {cfg['classes']}",
             G.z_dim, G.w_dim, len(G.feature_shapes), G.truncation)
    return G


biggan_deep.options = DEFAULTS  # what launch.py validates generator.* against (benchmark/orchestration/validation.py)
