"""Our DiffAugment-BigGAN and AutoGAN CIFAR generators against the authors' code, on CPU in float32.

Builds the reference generators from checkouts given on the command line (put on ``sys.path`` only
while this script runs; nothing of them lives in this repository):

* ``--biggan-reference``: the ``DiffAugment-biggan-cifar`` folder of
  https://github.com/mit-han-lab/data-efficient-gans (``BigGAN.py``, ``layers.py``,
  ``DiffAugment_pytorch.py``), ``BigGAN.Generator(**config)`` as ``eval.py`` builds it;
* ``--autogan-reference``: a checkout of https://github.com/VITA-Group/AutoGAN
  (``models/autogan_cifar10_a.py``, ``models/building_blocks.py``).

Every parameter and buffer gets random values (BN statistics and gains included), the reference
``state_dict`` is copied into ``benchmark.generators.biggan_cifar`` / ``autogan_cifar`` with
``strict=True`` (names, shapes and key order must match), and the script prints the largest absolute
differences of the images for fixed z (and labels) and of every block's output (forward hooks on the
reference blocks). BigGAN: the released CIFAR-10 / CIFAR-100 configurations at a reduced width and a
G_shared + hier + attention variant, each with stored BN statistics (reference in eval mode) and batch
statistics (reference in train mode, as ``eval.py`` runs it). AutoGAN: gf_dim 256 and 32.

    python measurements/cifar_gans_equivalence.py --biggan-reference /tmp/dae/DiffAugment-biggan-cifar \\
        --autogan-reference /tmp/AutoGAN
"""
from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.generators.autogan_cifar import AutoGANGenerator  # noqa: E402
from benchmark.generators.biggan_cifar import CIFAR10_KWARGS, BigGANCifarGenerator  # noqa: E402


def randomise(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith(("stored_var", "running_var")):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("u0", "sv0")):
                continue  # keep the power-iteration state as initialised (unit-ish vectors)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.05 + (1.0 if name.endswith("gain") else 0.0))


def hook_outputs(modules) -> tuple[list, list]:
    outputs = []
    handles = [m.register_forward_hook(lambda mod, inp, out: outputs.append(out)) for m in modules]
    return outputs, handles


def check_biggan(reference: Path) -> float:
    sys.path.insert(0, str(reference))
    try:
        import BigGAN as official  # noqa: N813
    finally:
        sys.path.remove(str(reference))
    worst = 0.0
    variants = [dict(G_ch=16), dict(G_ch=16, n_classes=100),
                dict(G_ch=16, G_shared=True, hier=True, shared_dim=32, dim_z=120, G_attn="16")]
    for i, kw in enumerate(variants):
        cfg = {**CIFAR10_KWARGS, **kw}
        ref = official.Generator(**cfg, G_activation=torch.nn.ReLU(inplace=False), skip_init=True, no_optim=True)
        randomise(ref, seed=i)
        state = {k: v.clone() for k, v in ref.state_dict().items()}
        ours = BigGANCifarGenerator(**cfg)
        ours.load_state_dict(state, strict=True)
        assert list(state) == list(ours.state_dict()), "key order differs"
        z = torch.randn(8, ours.z_dim, generator=torch.Generator().manual_seed(100 + i))
        y = torch.randint(cfg["n_classes"], (8,), generator=torch.Generator().manual_seed(200 + i))
        for mode in ("stored", "batch"):
            ref.load_state_dict(state)  # train mode moves u0 and the BN buffers; start each check afresh
            ref.train(mode == "batch")
            ours.set_bn_stats(mode)
            ref_feats, handles = hook_outputs([blocklist[-1] for blocklist in ref.blocks])
            with torch.no_grad():
                ref_img = ref(z, ref.shared(y))
                out = ours.synthesize(torch.cat([z, ours.class_vector(y)], dim=1))
            for h in handles:
                h.remove()
            d_img = (ref_img - out.images).abs().max().item()
            d_feat = max((a - b).abs().max().item() for a, b in zip(ref_feats, out.features))
            worst = max(worst, d_img, d_feat)
            print(f"BigGAN {kw} bn_stats={mode}: images {d_img:.3g}, block outputs {d_feat:.3g}")
    return worst


def check_autogan(reference: Path) -> float:
    sys.path.insert(0, str(reference))
    try:
        from models.autogan_cifar10_a import Generator as Official
    finally:
        sys.path.remove(str(reference))
    worst = 0.0
    for i, gf_dim in enumerate((256, 32)):
        args = types.SimpleNamespace(gf_dim=gf_dim, bottom_width=4, latent_dim=128, df_dim=64, d_spectral_norm=False)
        ref = Official(args)
        randomise(ref, seed=10 + i)
        ours = AutoGANGenerator(latent_dim=128, gf_dim=gf_dim)
        ours.load_state_dict(ref.state_dict(), strict=True)
        assert list(ref.state_dict()) == list(ours.state_dict()), "key order differs"
        ref.eval()
        ours.eval()
        z = torch.randn(6, 128, generator=torch.Generator().manual_seed(300 + i))
        ref_feats = []
        handles = [getattr(ref, f"cell{j}").register_forward_hook(lambda m, inp, out: ref_feats.append(out[1]))
                   for j in (1, 2, 3)]
        with torch.no_grad():
            ref_img = ref(z)
            out = ours.synthesize(z)
        for h in handles:
            h.remove()
        d_img = (ref_img - out.images).abs().max().item()
        d_feat = max((a - b).abs().max().item() for a, b in zip(ref_feats, out.features))
        worst = max(worst, d_img, d_feat)
        print(f"AutoGAN gf_dim={gf_dim}: images {d_img:.3g}, cell outputs {d_feat:.3g}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--biggan-reference", type=Path, help="the DiffAugment-biggan-cifar folder")
    parser.add_argument("--autogan-reference", type=Path, help="a VITA-Group/AutoGAN checkout")
    args = parser.parse_args()
    if not (args.biggan_reference or args.autogan_reference):
        parser.error("give --biggan-reference and/or --autogan-reference")
    torch.manual_seed(0)
    worst = 0.0
    if args.biggan_reference:
        worst = max(worst, check_biggan(args.biggan_reference))
    if args.autogan_reference:
        worst = max(worst, check_autogan(args.autogan_reference))
    print(f"largest difference: {worst:.3g}")
    sys.exit(0 if worst < 1e-5 else 1)


if __name__ == "__main__":
    main()
