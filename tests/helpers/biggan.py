"""A BigGAN-deep of a few thousand random weights, in the package's from_pretrained folder layout
(config.json + pytorch_model.bin): what generator=biggan_deep reads, at test scale; and the released files of the
two state-dict CIFAR-10 GANs with random weights at their published size (``write_biggan_cifar10``: DiffAugment's
BigGAN, what generator=biggan_cifar10 reads; ``write_autogan_cifar10``: AutoGAN's, generator=autogan_cifar10)."""
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


def randomise_buffers(G: torch.nn.Module, seed: int = 0) -> None:
    """BN running statistics away from the (0, 1) a fresh module has, so that a load that lost them would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, b in G.named_buffers():
            if name.endswith(("stored_mean", "running_mean")):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith(("stored_var", "running_var")):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


def write_biggan_cifar10(path: Path, seed: int = 0, **arch) -> Path:
    """A DiffAugment BigGAN checkpoint as the released ``*-biggan-cifar10.pth`` files are: a plain generator state
    dict (eval.py: ``G.load_state_dict(torch.load(f))``), random weights as the official init (N(0, 0.02)).
    ``arch``: BigGANCifarGenerator's arguments; none = the released configuration (G_ch 64, 10 classes, 4.3 M
    numbers, 17 MB), which loads strict into launch/generator/biggan_cifar10.yaml as it is."""
    from benchmark.generators.biggan_cifar import BigGANCifarGenerator

    torch.manual_seed(seed)
    G = BigGANCifarGenerator(**arch)
    randomise_buffers(G, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(G.state_dict(), path)
    return path


def write_autogan_cifar10(path: Path, seed: int = 0, training_checkpoint: bool = False, **arch) -> Path:
    """An AutoGAN CIFAR-10 generator file with random weights (train.py's xavier init): a plain state dict, or with
    ``training_checkpoint`` a train.py checkpoint whose ``avg_gen_state_dict`` holds them (what test.py loads; its
    ``best_fid`` a numpy float, as train.py saves it). ``arch``: AutoGANGenerator's arguments; none = the released
    configuration (gf_dim 256, 4.4 M numbers, 18 MB), which loads strict into launch/generator/autogan_cifar10.yaml."""
    import numpy as np

    from benchmark.generators.autogan_cifar import AutoGANGenerator

    torch.manual_seed(seed)
    G = AutoGANGenerator(**arch)
    randomise_buffers(G, seed)
    state = G.state_dict()
    if training_checkpoint:
        state = {"epoch": 7, "gen_model": "autogan_cifar10_a", "avg_gen_state_dict": state,
                 "gen_state_dict": {k: torch.zeros_like(v) for k, v in state.items()}, "best_fid": np.float64(12.4),
                 "path_helper": {"prefix": "logs/autogan_cifar10_a"}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
