"""The Inception-v3 feature network of the FID (Heusel et al., 2017), loaded offline.

The network is torch-fidelity's port of the TensorFlow graph ``inception-2015-12-05`` that the FID's reference
implementation (TTUR) and StyleGAN2-ADA's metrics use, through torchmetrics' ``NoTrainInceptionV3`` (the
module torchmetrics' FrechetInceptionDistance builds): its 2048-d pool3 features. Its input is what that graph
takes: uint8 RGB images, 0..255, (N, 3, H, W) of any size, resized inside to 299 px.

Resize: torchmetrics' wrapper resizes with PyTorch's antialiased bilinear filter by default; we turn that off
(``antialias=False``) so that it resizes as torch-fidelity does, with TensorFlow 1.x's bilinear
``resize_bilinear`` (no half-pixel offset), which is what the reported FIDs went through. The two differ on
every image (upsampling a 32 px CIFAR-10 image to 299 px included), so this choice changes the number.

Weights: never downloaded here. By default the file torch-fidelity itself downloads and caches,
``<torch hub dir>/checkpoints/weights-inception-2015-12-05-6726825d.pth`` (``torch.hub.get_dir()``, moved by
``$TORCH_HOME``); ``weights=<file>`` names another. The file is read with ``torch.load(weights_only=True)``:
a state dict of tensors, nothing in it is run.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torchmetrics.image.fid import NoTrainInceptionV3

from benchmark.errors import UserError

WEIGHTS_URL = URL_INCEPTION_V3
WEIGHTS_FILE = URL_INCEPTION_V3.rsplit("/", 1)[-1]  # weights-inception-2015-12-05-6726825d.pth
FEATURE_DIM = 2048


def default_weights_path() -> Path:
    """Where torch-fidelity caches its Inception weights (torch hub's checkpoints folder)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """Suite images (float in [-1, 1]) as the Inception takes them: uint8 RGB. Rounded as StyleGAN2-ADA's
    metrics quantise generated images (x * 127.5 + 128, clamped, truncated), which also gives back exactly the
    uint8 pixels of a real image the suite's loaders turned into floats. One channel is repeated to three."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expects (N, 1 or 3, H, W) images, got {tuple(images.shape)}")
    uint8 = (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return uint8.expand(-1, 3, -1, -1) if uint8.shape[1] == 1 else uint8


class InceptionFeature(NoTrainInceptionV3):
    """torch-fidelity's Inception-v3 (via torchmetrics), 2048-d pool3 features of uint8 RGB images; it stays in
    eval mode. ``to_feature_input`` turns suite images into its input (frechet.frechet_distance uses it)."""

    num_features = FEATURE_DIM
    to_feature_input = staticmethod(to_uint8_rgb)

    def __init__(self, weights_file, source: str):
        # weights_file: a path or an open file for torch-fidelity's torch.load; source: what the user named
        super().__init__(name="inception-v3-compat", features_list=[str(FEATURE_DIM)],
                         feature_extractor_weights_path=weights_file, antialias=False)
        self.description = (f"Inception-v3 pool3, {FEATURE_DIM}-d (torch-fidelity's port of TensorFlow's "
                            f"inception-2015-12-05, TF 1.x bilinear resize; weights {Path(source).name}): FID")


def _missing_message(path: Path) -> str:
    return (f"the Inception-v3 weights of the FID are not at {path}. The suite never downloads them; download\n"
            f"  {WEIGHTS_URL}\n"
            f"and put the file at\n"
            f"  {path}\n"
            f"(torch hub's checkpoints folder, where torch-fidelity caches it; $TORCH_HOME moves it), e.g.\n"
            f"  mkdir -p {path.parent} && curl -L -o {path} {WEIGHTS_URL}\n"
            f"or name another file with inception_feature(weights=<file>) "
            f"(benchmark/quality/inception.py)")


def inception_feature(weights: Optional[str] = None) -> InceptionFeature:
    """The FID's Inception-v3 (on the CPU, eval mode) with the weights in ``weights`` (default: torch-fidelity's
    cached file, ``default_weights_path()``). Raises UserError when the file is missing (saying where to put it
    and where to get it) or is not a state dict of this network (naming the file)."""
    path = Path(weights).expanduser() if weights is not None else default_weights_path()
    if not path.is_file():
        if weights is None:
            raise UserError(_missing_message(path))
        raise UserError(f"the Inception-v3 weights file {path} (weights=) does not exist; torch-fidelity's file is "
                        f"{WEIGHTS_URL}")
    data = path.read_bytes()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever the loader says, the file is not usable weights
        raise UserError(f"{path}: not Inception-v3 weights (torch.load with weights_only=True refused it: "
                        f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: not Inception-v3 weights (it holds a {type(state).__name__}, not a state dict of "
                        "tensors)")
    # torch-fidelity loads the file itself, with weights_only=False: it is handed the very bytes checked above,
    # whose pickle the safe loader accepted, so nothing else can be run
    try:
        return InceptionFeature(io.BytesIO(data), str(path))
    except RuntimeError as e:  # load_state_dict: missing or unexpected keys, other shapes
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:3])[:400]
        raise UserError(f"{path}: not a state dict of torch-fidelity's Inception-v3 ({detail})") from e
