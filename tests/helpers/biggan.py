"""A BigGAN-deep of a few thousand random weights, in the package's from_pretrained folder layout
(config.json + pytorch_model.bin): what generator=biggan_deep reads, at test scale."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch


def tiny_biggan(seed: int = 0, num_classes: int = 5, output_dim: int = 16):
    """(package, config, model): four GenBlocks from 4 to ``output_dim`` (16 or 32) px, channel width 4."""
    pkg = pytest.importorskip("pytorch_pretrained_biggan", reason="optional extra: pip install 'ganrep-bench[biggan]'")
    # layers: (up-sample?, in, out) multipliers of channel_width; halving channels needs out = in / 2,
    # and the last block must end at channel_width (the final BN / conv_to_rgb width)
    layers = {16: [(False, 16, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)],
              32: [(True, 16, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)]}[output_dim]
    config = pkg.BigGANConfig(output_dim=output_dim, z_dim=8, class_embed_dim=8, channel_width=4,
                              num_classes=num_classes, layers=layers, attention_layer_position=2, n_stats=51)
    torch.manual_seed(seed)
    model = pkg.BigGAN(config)
    with torch.no_grad():
        model.generator.bn.weight.fill_(1.0)  # the package leaves these uninitialised (torch.Tensor(n))
        model.generator.bn.bias.zero_()
        for name, b in model.named_buffers():  # distinct BN statistics per truncation grid point
            if name.endswith("running_means"):
                b.copy_(torch.randn(b.shape) * 0.1)
            elif name.endswith("running_vars"):
                b.copy_(torch.rand(b.shape) + 0.5)
    converge_spectral_norms(model)
    return pkg, config, model.eval()


@torch.no_grad()
def converge_spectral_norms(model: torch.nn.Module, iterations: int = 30) -> None:
    """Spectral norm in eval mode divides each weight by u^T W v with its stored vectors: random ones leave W
    unnormalised and the activations of a random BigGAN grow ~10x per conv (to inf in float32). Power
    iteration sets them to the top singular pair, as a trained network's have converged to."""
    for module in model.modules():
        if hasattr(module, "weight_orig") and hasattr(module, "weight_u"):
            matrix = module.weight_orig.reshape(module.weight_orig.shape[0], -1)
            v = torch.nn.functional.normalize(torch.randn(matrix.shape[1], generator=torch.Generator().manual_seed(0)),
                                              dim=0)
            for _ in range(iterations):
                u = torch.nn.functional.normalize(matrix @ v, dim=0)
                v = torch.nn.functional.normalize(matrix.t() @ u, dim=0)
            module.weight_u.copy_(u)
            module.weight_v.copy_(v)


def random_biggan_deep_128(seed: int = 0):
    """The package's default config (biggan-deep-128: 10 GenBlocks, channel width 128, 1000 classes) with random
    weights whose forward stays finite: for measuring what the real network costs, without its weights."""
    import pytorch_pretrained_biggan as pkg

    config = pkg.BigGANConfig()
    torch.manual_seed(seed)
    model = pkg.BigGAN(config)
    with torch.no_grad():
        model.generator.bn.weight.fill_(1.0)
        model.generator.bn.bias.zero_()
        for name, b in model.named_buffers():
            if name.endswith("running_means"):
                b.zero_()
            elif name.endswith("running_vars"):
                b.fill_(1.0)
    converge_spectral_norms(model)
    return config, model.eval()


def write_tiny_biggan(folder: Path, seed: int = 0, num_classes: int = 5, output_dim: int = 16) -> Path:
    """``folder`` with config.json and pytorch_model.bin of ``tiny_biggan`` (generator.checkpoint=<folder>)."""
    _, config, model = tiny_biggan(seed, num_classes, output_dim)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config.to_json_string())
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder
