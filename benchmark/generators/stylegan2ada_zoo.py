"""``generator=stylegan2ada``: NVIDIA's released StyleGAN2-ADA networks behind the Generator interface.

The network pickle (e.g. ``launch/generator/stylegan2ada_cifar10u.yaml``) is read ONLY through
``benchmark.generators.official_pickle`` (a restricted unpickler that never runs the source code such
pickles carry); the weights go into the clean-room networks of ``benchmark.generators.stylegan2ada``
with ``load_state_dict(strict=True)``. As NVIDIA's ``generate.py`` does, images come from ``G_ema``;
``D`` (where the pickle has one) is the ``discriminator``. ``G`` and ``augment_pipe`` are not used.

Where the pickle comes from (config keys; see the zoo yamls for tuning):

* ``pickle``: a local file; used as it is (never downloaded over, never deleted).
* ``pickle: null``: the cache ``<paths.artifacts>/generators/downloads/<url host>/<url path>``, e.g.
  ``artifacts/generators/downloads/nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/cifar10.pkl``.
  A missing file is downloaded from ``url`` (torch.hub's downloader: a temporary file, renamed when
  complete). The suite's artifacts folder, not torch hub's cache, so that one ``paths.artifacts`` (or
  ``$GANREP_ARTIFACTS``) holds everything a run needs and can be copied to an offline machine.
  Offline, the error names the file to fetch (the URL) and the path to put it at.
* ``expected_file``: for networks that are not published (no ``url``), the file name that the error
  quotes when no ``pickle`` is given (e.g. the Squeeze-and-Span authors'
  ``stl10u-my128-best-fid20.86.pkl``).
* ``sha256``: the expected SHA-256 of the file. A mismatch is an error naming both digests; a cached
  download that fails is removed (a user's ``pickle`` is left in place). ``null``: nothing is verified;
  the log warns that no checksum was pinned and gives the file's digest, which the result record
  keeps (``generator_provenance.sha256``) - pin it in the yaml to make later runs check it.

Sampling (``sample``): z ~ N(0, I) drawn with the given ``rng`` first, then, for a conditional
generator, labels: those given, else ``label`` of the config for every sample, else uniform random
classes drawn with the same ``rng``; c is their one-hot code. ``mapping(z, c, truncation_psi)``
gives the same w for every layer (no style mixing). Noise: ``noise_mode`` ``const`` (the default:
the stored noise buffers, deterministic), ``random`` (fresh noise from torch's global RNG, not from
``rng``, as the official code) or ``none``.

Precision (``precision``): ``float32`` (the default) runs every synthesis block in float32; ``float16``
is the official mixed precision, the blocks that the pickle's ``num_fp16_res`` marks (b8, b16, b32 of
a 32 px network; b16 ... b128 of a 128 px one) in float16 with ``conv_clamp`` and the official
overflow-avoiding normalisation, CUDA only: on the CPU it falls back to float32 with a logged warning;
``bfloat16``: the same blocks in bfloat16, on any device. Images and features are float32 whatever the
precision (benchmark/generators/stylegan2ada.py, "Precision"). The provenance records ``precision`` (as
configured) and ``precision_effective`` (what runs on the build device).

``fused_modconv``: how the modulated convs run. ``null`` (the default) is the official rule: in float32
one grouped conv with per-sample weights (fused), in reduced precision the styles scale the input and the
demodulation the output around one conv shared by the batch (unfused); ``true`` / ``false`` force one
way for every block. Both compute the same function (float rounding apart); the unfused one skips the
per-sample weight tensor, N x 512 x 512 x 3 x 3 numbers a conv for the CIFAR-10 network, and is the
faster one at training batch sizes (measurements/paper_throughput.py).

The discriminator handle's ``features(images)`` returns (every block's output, b32 ... b8 for 32 px,
the 4x4 input of the epilogue last; the flat input of the final fc layer ``b4.out``, C4 numbers, or
with ``discriminator_flat: fc`` the input of ``b4.fc``, C4 * 16 numbers). A conditional D is called
with c = None: labels only enter its logit (the projection after ``b4.out``), not these features.
The epilogue's minibatch-stddev channel makes the features depend on the other images of the batch
(groups of ``mbstd_group_size``, 32 for CIFAR-10); the official layer needs the batch to be a
multiple of min(group size, batch), so a batch that is not is evaluated with the largest group size
below the D's own that divides it (1 for a prime batch).
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from benchmark.errors import RefusedFileError, UserError
from benchmark.generators import stylegan2ada as sg
from benchmark.generators import stylegan2ada_discriminator as sgd
from benchmark.generators.official_pickle import load_network_pickle
from benchmark.generators.official_pickle_records import init_kwargs_of, reconstruct
from benchmark.generators.pretrained_files import download, download_cache_path, sha256_of  # noqa: F401  (download: patched in tests)
from benchmark.generators.style_generator import MappedStyleGenerator, json_safe
from benchmark.interfaces import GeneratorOutput
from benchmark.registry import GENERATORS

log = logging.getLogger(__name__)

DEFAULTS = dict(pickle=None, url=None, expected_file=None, sha256=None, label=None, truncation_psi=1.0,
                noise_mode="const", discriminator_flat="out", precision="float32", fused_modconv=None)
NOISE_MODES = ("const", "random", "none")
PICKLE_FORMAT = ("generator=stylegan2ada reads network pickles written by NVIDIA's stylegan2-ada-pytorch (G_ema and D "
                 "of its training/networks.py, e.g. network-snapshot-*.pkl)")
DISCRIMINATOR_FLATS = ("out", "fc")
PRECISIONS = tuple(sg.PRECISIONS)  # float32, float16, bfloat16


def check_precision(precision) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"generator.precision={precision!r} is not a valid precision; valid: "
                         f"{', '.join(PRECISIONS)}")
    return precision


class PickleNotFoundError(FileNotFoundError, UserError):
    """The network pickle is neither where the config says nor downloadable."""


class ChecksumMismatchError(ValueError):
    """The network pickle's SHA-256 is not the pinned one."""


# ------------------------------------------------------------------------------------ the file

def fetch_pickle(cfg: dict, artifacts_root: str) -> tuple[Path, dict]:
    """The local pickle of the config, downloaded and verified as the module doc says; and its provenance."""
    url, expected = cfg["url"], cfg["sha256"]
    downloaded = False
    if cfg["pickle"]:
        path = Path(cfg["pickle"]).expanduser()
        if not path.is_file():
            hint = f"; it can be downloaded from {url}" if url else ""
            raise PickleNotFoundError(f"generator.pickle={path} does not exist{hint} (or set generator.pickle=null "
                                      "to use the download cache)")
    else:
        if not url:
            wanted = f" (the network's file is {cfg['expected_file']})" if cfg.get("expected_file") else ""
            raise ValueError(f"generator stylegan2ada needs generator.pickle (a local file) or generator.url; "
                             f"none is set{wanted}: pass generator.pickle=/path/to/"
                             f"{cfg.get('expected_file') or 'network-snapshot.pkl'}")
        path = download_cache_path(url, artifacts_root)
        if path.is_file():
            log.info("using the cached network pickle %s", path)
        else:
            log.info("downloading %s -> %s", url, path)
            try:
                download(url, path)
            except Exception as e:  # no network is the usual reason; say exactly what to do instead
                raise PickleNotFoundError(
                    f"could not download the network pickle {url} ({type(e).__name__}: {e}). Offline, fetch that "
                    f"file on a machine with internet access and place it at {path.resolve()} (or point "
                    "generator.pickle=/path/to/file at a copy)") from e
            downloaded = True
    actual = sha256_of(path)
    if expected:
        if actual != str(expected).lower():
            removed = not cfg["pickle"]  # only what the suite downloaded or cached; never a user's file
            if removed:
                path.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"SHA-256 of {path} is {actual}, expected {expected} (generator.sha256)"
                + (f"; the file was removed from the cache, run again to download {url}" if removed else
                   "; the file was left in place"))
    else:
        log.warning("no checksum pinned for the network pickle %s (generator.sha256 is null): not verified; its "
                    "SHA-256 is %s (set generator.sha256=%s to verify it from now on)", path, actual, actual)
    return path, {"pickle": str(path), "url": url, "sha256": actual, "sha256_pinned": bool(expected),
                  "downloaded": downloaded}


# ----------------------------------------------------------------------------- the networks

class StyleGAN2ADADiscriminator(nn.Module):
    """The pickle's D with ``features(images)`` = (block maps, flat input of the final fc layer)."""

    def __init__(self, D: sgd.Discriminator, flat: str = "out"):
        super().__init__()
        if flat not in DISCRIMINATOR_FLATS:
            raise ValueError(f"discriminator_flat must be 'out' (input of b4.out) or 'fc' (input of b4.fc), "
                             f"not {flat!r}")
        self.D, self.flat = D, flat

    @staticmethod
    def group_size_for(own: int, n: int) -> int:
        """The largest group size <= min(own, n) that divides the batch ``n``."""
        g = min(own, n)
        while n % g:
            g -= 1
        return g

    def features(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        mbstd = self.D.b4.mbstd
        if mbstd is None or mbstd.group_size is None:  # no mbstd layer, or one group = the whole batch
            return self.D.features(images, c=None, flat=self.flat)
        own = mbstd.group_size
        mbstd.group_size = self.group_size_for(own, images.shape[0])
        try:
            return self.D.features(images, c=None, flat=self.flat)
        finally:
            mbstd.group_size = own

    def forward(self, images: torch.Tensor, c: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The D's logits (a conditional D needs the one-hot labels ``c``)."""
        return self.D(images, c)


class StyleGAN2ADAGenerator(MappedStyleGenerator):
    """A frozen StyleGAN2-ADA ``G_ema`` (and its ``D``) as the suite's Generator; see the module doc."""

    name = "stylegan2ada"
    family = "StyleGAN2-ADA"

    def __init__(self, G: sg.Generator, D: Optional[sgd.Discriminator] = None, *, noise_mode: str = "const",
                 truncation_psi: float = 1.0, label: Optional[int] = None, discriminator_flat: str = "out",
                 precision: str = "float32", fused_modconv: Optional[bool] = None):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, not {noise_mode!r}")
        if fused_modconv is not None and not isinstance(fused_modconv, bool):
            raise ValueError(f"generator.fused_modconv={fused_modconv!r}: choose null (the official rule), true or "
                             "false")
        super().__init__(G.set_precision(check_precision(precision)), truncation_psi=truncation_psi, label=label)
        self.fused_modconv = fused_modconv
        self.precision = precision
        self.noise_mode = noise_mode
        self.discriminator = StyleGAN2ADADiscriminator(D, discriminator_flat) if D is not None else None

    def _device(self) -> torch.device:
        return self.G.synthesis.b4.const.device

    def synthesize(self, w: torch.Tensor) -> GeneratorOutput:
        """Images (clamped to [-1, 1]) and every block's output from w (N, w_dim), used for every layer,
        or per-layer ws (N, num_ws, w_dim); ``w`` of the output is then ws[:, 0]."""
        ws, w = self.per_layer_ws(w)
        images, features = self.G.synthesis(ws, return_features=True, noise_mode=self.noise_mode,
                                            fused_modconv=self.fused_modconv)
        return GeneratorOutput(images=images.clamp(-1, 1), features=features, w=w)


def freeze(module: nn.Module, device) -> nn.Module:
    return module.to(device).eval().requires_grad_(False)


@GENERATORS.register("stylegan2ada")
def stylegan2ada(cfg: dict, data_cfg=None, artifacts_root: str = "artifacts", device="cpu") -> StyleGAN2ADAGenerator:
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"generator stylegan2ada has no option(s) {unknown}; valid options: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **cfg}
    if cfg["noise_mode"] not in NOISE_MODES:
        raise ValueError(f"generator.noise_mode must be one of {NOISE_MODES}, not {cfg['noise_mode']!r}")
    check_precision(cfg["precision"])
    path, provenance = fetch_pickle(cfg, artifacts_root)
    try:
        data = load_network_pickle(path)
        if data.get("G_ema") is None:
            raise ValueError(f"it holds no G_ema network (keys: {sorted(map(str, data))})")
        G = reconstruct(data["G_ema"], {"Generator": sg.Generator})
        D = reconstruct(data["D"], {"Discriminator": sgd.Discriminator}) if data.get("D") is not None else None
    except (pickle.UnpicklingError, EOFError, TypeError, KeyError, RuntimeError, ValueError) as e:
        # a refused global, a truncated file, or networks whose class names, constructor arguments or
        # weights are not NVIDIA's training/networks.py ones (a persisted module's own source is never run)
        reason = " ".join(str(e).split()).removeprefix(f"{path}: ")  # the message names the file once
        raise RefusedFileError(path, f"{type(e).__name__}: {reason}", PICKLE_FORMAT) from e
    if D is None:
        log.warning("%s holds no D: the discriminator-feature methods cannot use this generator", path)
    gen = StyleGAN2ADAGenerator(freeze(G, device), freeze(D, device) if D is not None else None,
                                noise_mode=cfg["noise_mode"], truncation_psi=cfg["truncation_psi"],
                                label=cfg["label"], discriminator_flat=cfg["discriminator_flat"],
                                precision=cfg["precision"], fused_modconv=cfg["fused_modconv"])
    gen = freeze(gen, device)
    gen.reused = not provenance["downloaded"]
    gen.provenance = json_safe({
        **provenance, "networks": ["G_ema"] + (["D"] if D is not None else []),
        "G_init_kwargs": init_kwargs_of(data["G_ema"]),
        "D_init_kwargs": init_kwargs_of(data["D"]) if D is not None else None,
        "module_src_sha256": data["G_ema"].module_src_sha256,  # identifies the NVIDIA code that pickled it
        "training_set_kwargs": data.get("training_set_kwargs"),
        "precision": cfg["precision"],  # as configured; float16 falls back to float32 off CUDA (warned)
        "precision_effective": gen.G.synthesis.effective_precision(device),
        "reduced_precision_blocks": gen.G.synthesis.fp16_blocks(),
        "fused_modconv": cfg["fused_modconv"],
    })
    log.info("StyleGAN2-ADA %s: %d px, %d channels, %s, z %d, w %d x %d ws, features %s, precision %s", path.name,
             gen.resolution, gen.image_channels, f"{gen.num_classes} classes" if gen.num_classes else "unconditional",
             gen.z_dim, gen.w_dim, gen.num_ws, gen.feature_shapes, gen.provenance["precision_effective"])
    return gen


# what launch.py validates generator.* against before any work (benchmark/orchestration/validation.py)
stylegan2ada.options = DEFAULTS
stylegan2ada.option_choices = {"noise_mode": NOISE_MODES, "precision": PRECISIONS,
                               "discriminator_flat": DISCRIMINATOR_FLATS}
