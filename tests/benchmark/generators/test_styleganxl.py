"""``generator=styleganxl`` (benchmark/generators/styleganxl*.py): tiny official-layout StyleGAN-XL pickles
(tests/helpers/styleganxl.py) loaded through the registered generator, and the forward checked against an
independent float64 numpy computation of the official reference path, read from the pickled records
(Sauer et al. 2022; Karras et al. 2021: Fourier input, modulated conv, filtered leaky ReLU). No network access.
"""
from __future__ import annotations

import math
import os
import pickle
import sys

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from benchmark.errors import RefusedFileError
from benchmark.generators import stylegan2ada_zoo, styleganxl as sx
from benchmark.generators.official_pickle import UnsafePickleError, referenced_globals
from benchmark.generators.official_pickle_records import state_dict_of
from benchmark.generators.styleganxl_layers import filtered_lrelu, upfirdn2d
from benchmark.orchestration.validation import generator_problems
from benchmark.registry import GENERATORS
from tests.helpers.launching import REPO
from tests.helpers.styleganxl import C, W, Z, _Reduce, make_generator, write_official_pickle


@pytest.fixture(scope="module")
def pickles(tmp_path_factory):
    root = tmp_path_factory.mktemp("sgxl")
    out = {}
    for tag, c_dim, superres in (("c", C, True), ("u", 0, False)):
        G = make_generator(c_dim=c_dim, superres=superres, seed=1 if c_dim else 2)
        marker = root / f"pwned_{tag}"
        out[tag] = (write_official_pickle(root / f"{tag}.pkl", G, superres=superres, marker=str(marker)), G, marker)
    return out


def build(path, tmp_path, **cfg):
    return GENERATORS.get("styleganxl")(dict(pickle=str(path) if path else None, **cfg), data_cfg=None,
                                        artifacts_root=str(tmp_path / "artifacts"), device=torch.device("cpu"))


# ------------------------------------------------------------- the official forward, in numpy (float64)

def ref_upfirdn(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """One (H, W) map: zero insertion, pad/crop (x0, x1, y0, y1), true 2-D convolution, decimation."""
    k = np.ones((1, 1)) if f is None else (np.outer(f, f) if f.ndim == 1 else f)
    u = np.zeros((x.shape[0] * up, x.shape[1] * up))
    u[::up, ::up] = x
    x0, x1, y0, y1 = pad
    u = np.pad(u, ((max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))))
    u = u[max(-y0, 0): u.shape[0] - max(-y1, 0), max(-x0, 0): u.shape[1] - max(-x1, 0)]
    return scipy.signal.convolve2d(u, k * gain, mode="valid")[::down, ::down]


def ref_filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp):
    y = ref_upfirdn(x + b, fu, up=up, pad=pad, gain=up ** 2)
    y = np.where(y >= 0, y, slope * y) * gain
    if clamp is not None:
        y = np.clip(y, -clamp, clamp)
    return ref_upfirdn(y, fd, down=down)


def np_(t):
    return None if t is None else t.detach().double().numpy()


def ref_fc(sd, prefix, st, x):
    y = x @ (np_(sd[prefix + "weight"]) * float(st["weight_gain"])).T
    y = y + np_(sd[prefix + "bias"]) * float(st["bias_gain"])
    return y if st["activation"] == "linear" else np.where(y >= 0, y, 0.2 * y) * math.sqrt(2)


def ref_mapping(g, z, labels, psi=1.0):
    sd, m = state_dict_of(g), g.modules["mapping"]
    x = z / np.sqrt((z ** 2).mean(1, keepdims=True) + 1e-8)
    if labels is not None:
        e = np_(sd["mapping.embed.weight"])[labels]
        y = ref_fc(sd, "mapping.embed_proj.", m.modules["embed_proj"].state, e)
        x = np.concatenate([x, y / np.sqrt((y ** 2).mean(1, keepdims=True) + 1e-8)], axis=1)
    for i in range(int(m.state["num_layers"])):
        x = ref_fc(sd, f"mapping.fc{i}.", m.modules[f"fc{i}"].state, x)
    if psi != 1:
        avg = np_(sd["mapping.w_avg"])
        center = avg[labels] if labels is not None else avg[None]
        x = center + psi * (x - center)
    return x


def ref_input(g, w):
    """Fourier features from the paper's formula: sample points (j + 1/2 - size/2) / sampling_rate."""
    sd, st = state_dict_of(g), g.modules["synthesis"].modules["input"].state
    t = ref_fc(sd, "synthesis.input.affine.", g.modules["synthesis"].modules["input"].modules["affine"].state, w)
    out = []
    for n in range(w.shape[0]):
        rc, rs, tx, ty = t[n] / np.hypot(t[n, 0], t[n, 1])
        m = np.array([[rc, -rs, 0], [rs, rc, 0], [0, 0, 1]]) @ np.array([[1, 0, -tx], [0, 1, -ty], [0, 0, 1]])
        m = m @ np_(sd["synthesis.input.transform"])
        freqs = np_(sd["synthesis.input.freqs"])
        phases = np_(sd["synthesis.input.phases"]) + freqs @ m[:2, 2]
        freqs = freqs @ m[:2, :2]
        bw, sr = float(st["bandwidth"]), float(st["sampling_rate"])
        amp = np.clip(1 - (np.linalg.norm(freqs, axis=1) - bw) / (sr / 2 - bw), 0, 1)
        width, height = (int(s) for s in np.broadcast_to(st["size"], [2]))
        gx, gy = (np.arange(width) + 0.5 - width / 2) / sr, (np.arange(height) + 0.5 - height / 2) / sr
        arg = gx[None, :, None] * freqs[:, 0] + gy[:, None, None] * freqs[:, 1] + phases
        x = np.sin(2 * np.pi * arg) * amp  # (H, W, C)
        weight = np_(sd["synthesis.input.weight"])
        out.append((x @ (weight / np.sqrt(weight.shape[0])).T).transpose(2, 0, 1))
    return np.stack(out)


def ref_layer(g, name, x, w):
    sd, st = state_dict_of(g), g.modules["synthesis"].modules[name].state
    p = f"synthesis.{name}."
    styles = ref_fc(sd, p + "affine.", g.modules["synthesis"].modules[name].modules["affine"].state, w)
    weight = np_(sd[p + "weight"])
    o, i, k, _ = weight.shape
    if st["is_torgb"]:
        styles = styles / np.sqrt(i * k * k)
    wm = weight[None] * styles[:, None, :, None, None]
    if not st["is_torgb"]:
        wm = wm / np.sqrt((wm ** 2).sum(axis=(2, 3, 4)) + 1e-8)[:, :, None, None, None]
    wm = wm / np.sqrt(float(sd[p + "magnitude_ema"]))
    fu, fd, b = np_(sd.get(p + "up_filter")), np_(sd.get(p + "down_filter")), np_(sd[p + "bias"])
    gain, slope = (1.0, 1.0) if st["is_torgb"] else (math.sqrt(2), 0.2)
    out = []
    for n in range(x.shape[0]):
        maps = []
        for oc in range(o):
            conv = sum(scipy.signal.correlate2d(x[n, ic], wm[n, oc, ic], mode="full") for ic in range(i))
            maps.append(ref_filtered_lrelu(conv, fu, fd, b[oc], int(st["up_factor"]), int(st["down_factor"]),
                                           [int(v) for v in st["padding"]], gain, slope, st["conv_clamp"]))
        out.append(np.stack(maps))
    return np.stack(out)


# ------------------------------------------------------------------------------------------ the ops

@pytest.mark.parametrize("case", ["up2down2", "up4down1_crop", "2d_filter", "torgb", "clamped"])
def test_filtered_lrelu_matches_the_formula(case):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 9, generator=g, dtype=torch.float64) * 3
    b = torch.randn(3, generator=g, dtype=torch.float64)
    fu = torch.as_tensor(scipy.signal.firwin(12, 3.0, width=2.0, fs=16.0), dtype=torch.float64)
    fd = torch.as_tensor(scipy.signal.firwin(12, 4.0, width=3.0, fs=16.0), dtype=torch.float64)
    kw = dict(up=2, down=2, padding=[9, 8, 9, 8], gain=math.sqrt(2), slope=0.2, clamp=None)
    if case == "up4down1_crop":
        kw.update(up=4, down=1, padding=[-3, 2, 1, -2])
    elif case == "2d_filter":
        fu, fd = torch.outer(fu, fu.flip(0) + 0.1), torch.outer(fd[:5], fd[3:8])
    elif case == "torgb":
        fu = fd = None
        kw.update(up=1, down=1, padding=[0, 0, 0, 0], gain=1.0, slope=1.0, clamp=2.0)
    elif case == "clamped":
        kw.update(clamp=0.5)
    got = filtered_lrelu(x, fu, fd, b, **kw)
    for n in range(2):
        for c in range(3):
            ref = ref_filtered_lrelu(np_(x[n, c]), np_(fu), np_(fd), float(b[c]), kw["up"], kw["down"], kw["padding"],
                                     kw["gain"], kw["slope"], kw["clamp"])
            assert got[n, c].shape == ref.shape
            np.testing.assert_allclose(got[n, c].numpy(), ref, rtol=1e-10, atol=1e-10)
    # the separable path equals the outer-product filter (gain sqrt per pass = gain once)
    if case == "up2down2":
        y = upfirdn2d(x, fu, up=2, padding=[2, 1, 2, 1], gain=4)
        torch.testing.assert_close(y, upfirdn2d(x, torch.outer(fu, fu), up=2, padding=[2, 1, 2, 1], gain=4))


# ---------------------------------------------------------------------- the generator, end to end

@pytest.mark.parametrize("tag", ["c", "u"])
def test_forward_matches_the_numpy_reference(pickles, tmp_path, tag):
    path = pickles[tag][0]
    g = sx.load_styleganxl_pickle(path)["G_ema"]
    gen = build(path, tmp_path)
    n, psi = 2, 0.7
    z = torch.randn(n, Z, generator=torch.Generator().manual_seed(5))
    labels = torch.tensor([3, 7]) if tag == "c" else None
    c = F.one_hot(labels, C).float() if labels is not None else None
    ws = gen.G.mapping(z, c, truncation_psi=psi)
    w_ref = ref_mapping(g, np_(z), None if labels is None else labels.numpy(), psi)
    np.testing.assert_allclose(ws[:, 0].numpy(), w_ref, rtol=1e-5, atol=1e-5)
    assert torch.equal(ws[:, 0], ws[:, -1])
    out = gen.synthesize(ws[:, 0])
    x = ref_input(g, w_ref)
    names = list(g.modules["synthesis"].state["layer_names"])
    worst = []
    for name, feature in zip(names, out.features + [None]):
        x = ref_layer(g, name, x, w_ref)
        if feature is not None:
            assert feature.shape[1:] == x.shape[1:]
            worst.append(np.abs(feature.numpy() - x).max() / np.abs(x).max())
    image_ref = x * 0.25
    assert out.images.shape == image_ref.shape == (n, 3, gen.resolution, gen.resolution)
    worst.append(np.abs(out.images.numpy() - np.clip(image_ref, -1, 1)).max() / np.abs(image_ref).max())
    assert max(worst) < 1e-4, worst
    assert np.abs(image_ref).max() > 0.05  # not a trivially small image


# -------------------------------------------------------------------------------------- the adapter

def test_loads_the_written_network_through_the_registry(pickles, tmp_path):
    path, G, marker = pickles["c"]
    gen = build(path, tmp_path)
    got, expected = gen.G.state_dict(), G.state_dict()
    assert sorted(got) == sorted(expected) and all(torch.equal(got[k], expected[k]) for k in expected)
    assert not gen.training and not any(p.requires_grad for p in gen.parameters())
    assert not marker.exists()  # the discriminator's os.system call stayed inert
    assert not any(m in sys.modules for m in ("torch_utils", "dnnlib", "pg_modules", "feature_networks"))
    assert gen.discriminator is None and getattr(gen, "discriminator", None) is None
    assert (gen.z_dim, gen.w_dim, gen.num_classes, gen.image_channels, gen.resolution) == (Z, W, C, 3, 32)
    assert gen.num_ws == len(G.synthesis.layer_names) + 1 == 7
    assert gen.feature_names == ["L0_36_16", "L1_36_16", "L3_36_16", "L4_52_8", "L5_32_8"]
    assert gen.feature_shapes == [(16, 36, 36), (16, 36, 36), (16, 36, 36), (8, 52, 52), (8, 32, 32)]
    assert gen.provenance["G_class"] == "SuperresGenerator" and gen.provenance["networks"] == ["G_ema"]
    assert gen.provenance["G_init_kwargs"]["path_stem"].endswith("best_model.pkl")

    out = gen.sample(4, rng=torch.Generator().manual_seed(3))
    assert out.images.shape == (4, 3, 32, 32) and out.images.dtype == torch.float32
    assert -1 <= out.images.min() and out.images.max() <= 1 and out.w.shape == (4, W)
    assert [tuple(f.shape[1:]) for f in out.features] == gen.feature_shapes
    again = gen.sample(4, rng=torch.Generator().manual_seed(3))
    assert torch.equal(again.images, out.images) and torch.equal(again.labels, out.labels)
    rng = torch.Generator().manual_seed(3)  # z first, then the labels, from the same generator
    z = torch.randn(4, Z, generator=rng)
    assert torch.equal(out.labels, torch.randint(C, (4,), generator=rng))
    assert torch.equal(out.images, G(z, F.one_hot(out.labels, C).float()).clamp(-1, 1))
    rows = gen.sample_rows(4, slice(1, 3), rng=torch.Generator().manual_seed(3))
    torch.testing.assert_close(rows.images, out.images[1:3])
    ws = gen.G.mapping(z, F.one_hot(out.labels, C).float())
    assert torch.equal(gen.synthesize(ws).images, out.images)  # (N, num_ws, w_dim) as well as (N, w_dim)
    assert gen.sample(3, labels=torch.tensor([0, 9, 4])).labels.tolist() == [0, 9, 4]
    assert build(path, tmp_path, label=2).sample(3).labels.tolist() == [2, 2, 2]
    half = build(path, tmp_path, truncation_psi=0.5).sample(4, rng=torch.Generator().manual_seed(3))
    center = G.mapping.w_avg[out.labels]
    torch.testing.assert_close(half.w, center + 0.5 * (out.w - center))  # toward the class's centre
    with pytest.raises(ValueError, match="class ids"):
        gen.sample(2, labels=torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"\(N, 16\) or \(N, 7, 16\)"):
        gen.synthesize(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="no option"):
        build(path, tmp_path, noise_mode="const")

    unconditional = build(pickles["u"][0], tmp_path)
    assert unconditional.num_classes == 0 and unconditional.resolution == 16
    assert unconditional.sample(2).labels is None
    with pytest.raises(ValueError, match="unconditional"):
        build(pickles["u"][0], tmp_path, label=1)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_code_in_G_ema_is_refused(tmp_path, protocol):
    G = make_generator(superres=False)
    marker = tmp_path / "pwned"
    layer = getattr(G.synthesis, G.synthesis.layer_names[1])
    path = write_official_pickle(tmp_path / "evil.pkl", G, superres=False, protocol=protocol,
                                 extra_state={layer: {"hidden": _Reduce(os.system, f"touch {marker}")}})
    with pytest.raises(UnsafePickleError, match=r"refusing to load global (posix|nt)\.system") as info:
        sx.load_styleganxl_pickle(path)
    assert "L1_" in str(info.value) and str(path) in str(info.value)
    with pytest.raises(RefusedFileError, match="system"):
        build(path, tmp_path)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="G_ema"):  # the generator itself must be a persisted net
        (tmp_path / "plain.pkl").write_bytes(pickle.dumps(dict(G_ema=[1, 2])))
        sx.load_styleganxl_pickle(tmp_path / "plain.pkl")


def test_dill_written_numpy_scalars_load(tmp_path):
    """dill pickles numpy's scalar rebuilder as _get_attr(_import_module(module), 'scalar'): resolved through the
    allow-list, so the float attributes (weight_gain, sampling rates, ...) arrive as numpy floats."""
    G = make_generator(superres=False)
    path = write_official_pickle(tmp_path / "dill.pkl", G, superres=False, dill_scalars=True)
    refs = referenced_globals(path.read_bytes())
    assert {("dill._dill", "_get_attr"), ("dill._dill", "_import_module")} <= refs
    assert not any(name == "scalar" for _, name in refs)  # only reachable through dill's pair
    g = sx.load_styleganxl_pickle(path)["G_ema"]
    affine = g.modules["synthesis"].modules["input"].modules["affine"]
    assert type(affine.state["weight_gain"]) is np.float64
    assert affine.state["weight_gain"] == G.synthesis.input.affine.weight_gain
    net = build(path, tmp_path).G
    z, c = torch.randn(2, Z), F.one_hot(torch.tensor([0, 5]), C).float()
    assert torch.equal(net(z, c), G(z, c))
    assert "dill" not in sys.modules


def test_missing_file_errors(tmp_path, monkeypatch):
    def offline(url, dst):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(stylegan2ada_zoo, "download", offline)
    url = "https://example.invalid/avg-projects/stylegan_xl/models/cifar10.pkl"
    with pytest.raises(stylegan2ada_zoo.PickleNotFoundError) as info:
        build(None, tmp_path, url=url)
    cached = tmp_path / "artifacts/generators/downloads/example.invalid/avg-projects/stylegan_xl/models/cifar10.pkl"
    assert url in str(info.value) and str(cached.resolve()) in str(info.value)
    with pytest.raises(stylegan2ada_zoo.PickleNotFoundError, match="does not exist.*example.invalid"):
        build(tmp_path / "nope.pkl", tmp_path, url=url)
    with pytest.raises(ValueError, match="needs generator.pickle.*cifar10.pkl"):
        build(None, tmp_path)


def test_cifar10_config():
    cfg = OmegaConf.to_container(OmegaConf.load(REPO / "launch/generator/styleganxl_cifar10.yaml"))["generator"]
    assert cfg.pop("name") == "styleganxl"
    assert set(cfg) <= set(GENERATORS.get("styleganxl").options)
    assert cfg["url"] == "https://s3.eu-central-1.amazonaws.com/avg-projects/stylegan_xl/models/cifar10.pkl"
    assert cfg["pickle"] is None and cfg["truncation_psi"] == 1.0 and cfg["label"] is None
    # launch.py's checks before any work: the yaml is valid; a missing pickle and a foreign option are named
    section = dict(cfg, name="styleganxl")
    assert generator_problems({"generator": section, "preset": "smoke"}) == []
    problems = dict(generator_problems({"generator": dict(section, url=None, noise_mode="const"), "preset": "smoke"}))
    assert "cifar10.pkl" in problems["generator.pickle"] and "no option 'noise_mode'" in problems["generator.noise_mode"]
