"""Our StyleGAN2-ADA networks against NVIDIA's reference code, on CPU in float32.

Builds NVIDIA's ``training.networks.Generator`` / ``Discriminator`` from a checkout of
https://github.com/NVlabs/stylegan2-ada-pytorch (given by ``--reference``, put on ``sys.path`` only
while this script runs; nothing of it lives in this repository), fills every parameter and buffer
with random values (so zero-initialised biases, noise strengths and ``w_avg`` are exercised too),
copies the ``state_dict`` into ``benchmark.generators.stylegan2ada`` (``strict=True``: the names and
shapes must match) and prints the largest absolute differences of

* images for fixed z, c: noise_mode 'const', 'none', 'random' (same seed), truncation 0.7 with and
  without a cutoff, the per-sample fused conv (eval) and the non-fused path (train mode), and the
  ``w_avg`` update in train mode; the gradient of the image's mean square with respect to ws;
* every synthesis block's output x against forward hooks on the reference blocks;
* discriminator logits for fixed images and labels, each block's output and the epilogue's fc
  input/output (the ``features()`` maps and flat vectors); the gradient of the logits' sum with
  respect to the images.

Configurations: (a) the CIFAR-10 conditional networks of ``train.py --cfg=cifar --cond=1`` at 32 px;
(b) small 64 px ones (channel_base 2048, channel_max 64, 2 mapping layers, conv_clamp 256) for G
architectures 'orig', 'skip', 'resnet' and D architectures 'orig', 'skip', 'resnet'; (c) a small
conditional pair with conv_clamp 0.5, so that clamping is active. The official ops run their
reference PyTorch paths on CPU (``bias_act``/``upfirdn2d`` only try to build plug-ins for CUDA
tensors; ``conv2d_gradfix`` is disabled by default), and the reference networks are called with
``force_fp32=True``, so ``num_fp16_res`` has no effect.

    python measurements/stylegan2ada_equivalence.py --reference /tmp/sg2ref
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import types

import torch

from benchmark.generators import stylegan2ada as ours
from benchmark.generators import stylegan2ada_discriminator as ours_d


def import_reference(path: str):
    path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(path, "training", "networks.py")):
        raise SystemExit(f"{path} is not a stylegan2-ada-pytorch checkout (no training/networks.py)")
    try:  # dnnlib.util imports requests at module level (for URL downloads we never make)
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")
    sys.path.insert(0, path)
    import training.networks as ref_networks  # noqa: E402
    from torch_utils.ops import conv2d_gradfix
    conv2d_gradfix.enabled = False
    return ref_networks


def randomize_(module: torch.nn.Module, seed: int) -> None:
    """Overwrite every float parameter/buffer with random values of a sensible scale."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point() or name.endswith("resample_filter"):
                continue
            r = torch.randn(t.shape, generator=g)
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "bias":
                r = 0.2 * r + (1.0 if ".affine." in name else 0.0)
            elif leaf == "noise_strength":
                r = 0.3 * r
            elif leaf == "w_avg":
                r = 0.5 * r
            t.copy_(r)


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.double() - b.double()).abs().max().item()


def hook_outputs(modules):
    store = []
    handles = [m.register_forward_hook(lambda _m, _i, out: store.append(out)) for m in modules]
    return store, handles


def compare_generator(ref, kwargs: dict, batch: int, seed: int, report: dict, tag: str) -> None:
    torch.manual_seed(seed)
    G_ref = ref.Generator(**kwargs).eval()
    torch.manual_seed(seed)
    G = ours.Generator(**kwargs).eval()
    sd_ref, sd = G_ref.state_dict(), G.state_dict()
    report[f"{tag} G keys equal (names, order, shapes)"] = (
        list(sd_ref) == list(sd) and all(sd_ref[k].shape == sd[k].shape for k in sd_ref))
    report[f"{tag} G init equal for same seed"] = all(torch.equal(sd_ref[k], sd[k]) for k in sd_ref)
    randomize_(G_ref, seed + 1)
    G.load_state_dict(G_ref.state_dict(), strict=True)

    gen = torch.Generator().manual_seed(seed + 2)
    z = torch.randn(batch, G.z_dim, generator=gen)
    c = None
    if G.c_dim:
        c = torch.nn.functional.one_hot(torch.arange(batch) % G.c_dim, G.c_dim).float()
    res = []
    with torch.no_grad():
        blocks_ref = [getattr(G_ref.synthesis, f"b{r}") for r in G_ref.synthesis.block_resolutions]
        store, handles = hook_outputs(blocks_ref)
        a = G_ref(z, c, noise_mode="const", force_fp32=True)
        for h in handles:
            h.remove()
        b, feats, ws = G.features(z, c, noise_mode="const")
        res.append(("image const", maxdiff(a, b)))
        res.append(("block features", max(maxdiff(o[0], f) for o, f in zip(store, feats))))
        res.append(("ws", maxdiff(G_ref.mapping(z, c), ws)))
        res.append(("image none", maxdiff(G_ref(z, c, noise_mode="none", force_fp32=True), G(z, c, noise_mode="none"))))
        torch.manual_seed(seed + 3)
        a = G_ref(z, c, noise_mode="random", force_fp32=True)
        torch.manual_seed(seed + 3)
        res.append(("image random (same seed)", maxdiff(a, G(z, c, noise_mode="random"))))
        for cutoff in (None, 4):
            a = G_ref(z, c, truncation_psi=0.7, truncation_cutoff=cutoff, noise_mode="const", force_fp32=True)
            b = G(z, c, truncation_psi=0.7, truncation_cutoff=cutoff, noise_mode="const")
            res.append((f"image psi 0.7 cutoff {cutoff}", maxdiff(a, b)))
        G_ref.train(), G.train()  # non-fused modulated conv and the w_avg update
        a = G_ref(z, c, noise_mode="const", force_fp32=True)
        b = G(z, c, noise_mode="const")
        res.append(("image train (non-fused)", maxdiff(a, b)))
        res.append(("w_avg after train step", maxdiff(G_ref.mapping.w_avg, G.mapping.w_avg)))
        G_ref.eval(), G.eval()
    # gradients with respect to ws (plain autograd on both sides; conv2d_gradfix is off)
    ws_ref = G_ref.mapping(z, c).detach().requires_grad_(True)
    ws_ours = ws_ref.detach().clone().requires_grad_(True)
    G_ref.synthesis(ws_ref, noise_mode="const", force_fp32=True).square().mean().backward()
    G.synthesis(ws_ours, noise_mode="const").square().mean().backward()
    res.append(("grad wrt ws", maxdiff(ws_ref.grad, ws_ours.grad)))
    scale = a.abs().max().item()
    for name, d in res:
        report[f"{tag} G {name}"] = d
    report[f"{tag} G image max |value|"] = scale


def compare_discriminator(ref, kwargs: dict, batch: int, seed: int, report: dict, tag: str) -> None:
    torch.manual_seed(seed)
    D_ref = ref.Discriminator(**kwargs).eval()
    torch.manual_seed(seed)
    D = ours_d.Discriminator(**kwargs).eval()
    sd_ref, sd = D_ref.state_dict(), D.state_dict()
    report[f"{tag} D keys equal (names, order, shapes)"] = (
        list(sd_ref) == list(sd) and all(sd_ref[k].shape == sd[k].shape for k in sd_ref))
    report[f"{tag} D init equal for same seed"] = all(torch.equal(sd_ref[k], sd[k]) for k in sd_ref)
    randomize_(D_ref, seed + 1)
    D.load_state_dict(D_ref.state_dict(), strict=True)

    gen = torch.Generator().manual_seed(seed + 2)
    img = torch.randn(batch, D.img_channels, D.img_resolution, D.img_resolution, generator=gen).clamp(-1, 1)
    c = None
    if D.c_dim:
        c = torch.nn.functional.one_hot(torch.arange(batch) % D.c_dim, D.c_dim).float()
    with torch.no_grad():
        blocks_ref = [getattr(D_ref, f"b{r}") for r in D_ref.block_resolutions]
        store, handles = hook_outputs(blocks_ref + [D_ref.b4.conv, D_ref.b4.fc])
        a = D_ref(img, c, force_fp32=True)
        for h in handles:
            h.remove()
        b = D(img, c)
        maps, out_in = D.features(img, c)
        _, fc_in = D.features(img, c, flat="fc")
    img_ref = img.clone().requires_grad_(True)
    img_ours = img.clone().requires_grad_(True)
    D_ref(img_ref, c, force_fp32=True).sum().backward()
    D(img_ours, c).sum().backward()
    report[f"{tag} D grad wrt image"] = maxdiff(img_ref.grad, img_ours.grad)
    n = len(blocks_ref)
    report[f"{tag} D logits"] = maxdiff(a, b)
    report[f"{tag} D block outputs"] = max(maxdiff(o[0], m) for o, m in zip(store[:n], maps))
    report[f"{tag} D fc input (flat='fc')"] = maxdiff(store[n].flatten(1), fc_in)
    report[f"{tag} D out input (flat='out')"] = maxdiff(store[n + 1], out_in)
    report[f"{tag} D logits max |value|"] = a.abs().max().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-cifar", action="store_true", help="only the small configurations")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ref = import_reference(args.reference)

    small_g = dict(z_dim=32, w_dim=32, img_resolution=64, img_channels=3, mapping_kwargs=dict(num_layers=2))
    small_s = dict(channel_base=2048, channel_max=64, conv_clamp=256, num_fp16_res=2)
    small_d = dict(img_resolution=64, img_channels=3, channel_base=2048, channel_max=64, conv_clamp=256,
                   num_fp16_res=2)
    g_cfgs, d_cfgs = [], []
    if not args.skip_cifar:
        g_cfgs.append(("cifar10", ours.CIFAR10_G_KWARGS))
        d_cfgs.append(("cifar10", ours_d.CIFAR10_D_KWARGS))
    for arch in ("orig", "skip", "resnet"):
        g_cfgs.append((f"small64-{arch}", dict(small_g, c_dim=0, synthesis_kwargs=dict(small_s, architecture=arch))))
        d_cfgs.append((f"small64-{arch}", dict(small_d, c_dim=0, architecture=arch)))
    g_cfgs.append(("small32-cond-clamp0.5-resnet", dict(
        small_g, img_resolution=32, c_dim=5, mapping_kwargs=dict(num_layers=3, embed_features=16),
        synthesis_kwargs=dict(small_s, conv_clamp=0.5, architecture="resnet"))))
    d_cfgs.append(("small32-cond-clamp0.5-skip-mbstd2", dict(
        small_d, img_resolution=32, c_dim=5, conv_clamp=0.5, architecture="skip", cmap_dim=24,
        mapping_kwargs=dict(num_layers=2), epilogue_kwargs=dict(mbstd_group_size=2, mbstd_num_channels=2))))

    report: dict = {}
    t0 = time.perf_counter()
    for i, (tag, kw) in enumerate(g_cfgs):
        compare_generator(ref, kw, args.batch, args.seed + 10 * i, report, tag)
    for i, (tag, kw) in enumerate(d_cfgs):
        compare_discriminator(ref, kw, args.batch, args.seed + 100 + 10 * i, report, tag)
    worst = 0.0
    for k, v in report.items():
        if isinstance(v, bool):
            print(f"{k:60s} {v}")
        else:
            print(f"{k:60s} {v:.3e}")
            if "max |value|" not in k:
                worst = max(worst, v)
    flags_ok = all(v for v in report.values() if isinstance(v, bool))
    print(f"\nworst max abs difference: {worst:.3e} (target < 1e-4); key names/shapes/init all equal: {flags_ok}; "
          f"{time.perf_counter() - t0:.0f} s")
    sys.exit(0 if worst < 1e-4 and flags_ok else 1)


if __name__ == "__main__":
    main()
