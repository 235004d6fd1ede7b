"""The StyleGAN2-ADA generator's ``precision`` (benchmark/generators/stylegan2ada.py, "Precision"): the blocks
that ``num_fp16_res`` marks run in bfloat16 (any device) or float16 (CUDA only), the rest in float32.

Bounds: a reduced-precision value carries a relative rounding error of at most u / 2 with u = 2**-8 for
bfloat16 (8 significant bits) and 2**-11 for float16 (11). A block rounds its input, its conv output, the
noise and bias sums and the gain product, and the error of one block feeds the next, so a few u of the
activations' scale is expected after two to six reduced layers. Measured on the small random networks
below (8 seeds, CPU): largest |difference| <= 4.5 u of max |float32 output|, mean |difference| <= 2.4 u of
mean |float32 output|, the same in units of u for both dtypes. Asserted: 8 u and 4 u.
"""
from __future__ import annotations

import logging

import pytest
import torch

from benchmark.generators import stylegan2ada as sg
from benchmark.generators import stylegan2ada_zoo as zoo
from benchmark.generators.stylegan2ada_ops import modulated_conv2d
from benchmark.registry import GENERATORS
from tests.helpers.stylegan import Z, make_networks, write_official_pickle

UNIT_ROUNDOFF = {"bfloat16": 2.0 ** -8, "float16": 2.0 ** -11}
MAX_ERROR_UNITS, MEAN_ERROR_UNITS = 8, 4


def outputs(G, precision, n=16, seed=5, c_dim=0):
    z = torch.randn(n, Z, generator=torch.Generator().manual_seed(seed))
    c = torch.nn.functional.one_hot(torch.arange(n) % 10, 10).float() if c_dim else None
    G.set_precision(precision)
    with torch.no_grad():
        img, feats = G.synthesis(G.mapping(z, c), return_features=True, noise_mode="const")
    G.set_precision("float32")
    return [img] + feats


def check_close(reduced, ref, precision, names):
    """Each output float32, the float32 blocks (b4) bitwise equal, every reduced one within the bounds."""
    u = UNIT_ROUNDOFF[precision]
    report = {}
    for name, a, b in zip(names, reduced, ref):
        assert a.dtype == torch.float32 and a.shape == b.shape and torch.isfinite(a).all()
        diff = (a - b).abs()
        report[name] = diff.max().item()
        if name == "b4":  # b4 stays float32 (num_fp16_res 4 at 32 px: b8, b16, b32 are reduced)
            assert torch.equal(a, b)
            continue
        assert diff.max() > 0, f"{name} did not run in {precision}"
        max_units, mean_units = (diff.max() / b.abs().max()).item() / u, (diff.mean() / b.abs().mean()).item() / u
        assert max_units <= MAX_ERROR_UNITS, (name, max_units)
        assert mean_units <= MEAN_ERROR_UNITS, (name, mean_units)
    print(f"{precision} vs float32, max |difference|: " + ", ".join(f"{k} {v:.3g}" for k, v in report.items()))
    return report


@pytest.mark.parametrize("c_dim", [0, 10])
def test_bfloat16_blocks_are_float32_up_to_bfloat16_rounding(c_dim):
    G = make_networks(c_dim, seed=1)[0]
    assert G.synthesis.fp16_blocks() == ["b8", "b16", "b32"]
    ref = outputs(G, "float32", c_dim=c_dim)
    check_close(outputs(G, "bfloat16", c_dim=c_dim), ref, "bfloat16", ["image", "b4", "b8", "b16", "b32"])
    assert all(torch.equal(a, b) for a, b in zip(outputs(G, "float32", c_dim=c_dim), ref))  # back to float32


def test_bfloat16_with_channels_last_blocks():
    """``fp16_channels_last`` (channels-last activations in the reduced blocks): the same values."""
    G, _, g_kwargs, _ = make_networks(0, seed=2)
    g_kwargs = dict(g_kwargs, synthesis_kwargs=dict(g_kwargs["synthesis_kwargs"], fp16_channels_last=True))
    G_cl = sg.Generator(**g_kwargs).eval().requires_grad_(False)
    G_cl.load_state_dict(G.state_dict())
    ref = outputs(G, "float32")
    reduced = outputs(G_cl, "bfloat16")
    check_close(reduced, ref, "bfloat16", ["image", "b4", "b8", "b16", "b32"])
    assert reduced[0].is_contiguous()  # the image leaves in the ordinary layout


def test_float16_arithmetic_when_forced_on_the_cpu(monkeypatch):
    """The float16 path itself (torch has half convs on the CPU, though the suite only uses them on CUDA)."""
    monkeypatch.setattr(sg.SynthesisNetwork, "effective_precision", lambda self, device: self.precision)
    G = make_networks(0, seed=3)[0]
    check_close(outputs(G, "float16"), outputs(G, "float32"), "float16", ["image", "b4", "b8", "b16", "b32"])


def test_float16_on_the_cpu_falls_back_to_float32_bitwise_with_a_warning(caplog):
    G = make_networks(0, seed=4)[0]
    ref = outputs(G, "float32")
    with caplog.at_level(logging.WARNING, logger=sg.__name__):
        G.set_precision("float16")
        first = outputs_keep(G)
        second = outputs_keep(G)
    assert all(torch.equal(a, b) for a, b in zip(first, ref))
    assert all(torch.equal(a, b) for a, b in zip(second, ref))
    warnings = [r for r in caplog.records if "float16 is CUDA-only" in r.getMessage()]
    assert len(warnings) == 1 and "b8, b16, b32 run in float32" in warnings[0].getMessage()  # once per network


def outputs_keep(G, n=16, seed=5):
    z = torch.randn(n, Z, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        img, feats = G.synthesis(G.mapping(z, None), return_features=True, noise_mode="const")
    return [img] + feats


def test_float16_pre_normalisation_avoids_overflow():
    """Styles of 1e3 on activations of 100 overflow float16 (max 65504) if multiplied as they are; the
    official pre-normalisation (weights to max 1 / sqrt(in k k) per output channel, styles to max 1 per
    sample) keeps the float16 conv finite and equal to the float32 one up to float16 rounding."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 8, 6, 6, generator=g) * 100
    weight = torch.randn(16, 8, 3, 3, generator=g)
    styles = torch.rand(4, 8, generator=g) * 1e3 + 10
    assert torch.isinf(x.half() * styles.half().reshape(4, 8, 1, 1)).any()  # what the normalisation prevents
    ref = modulated_conv2d(x, weight, styles, fused=False)
    for fused in (False, True):
        out = modulated_conv2d(x.half(), weight, styles, fused=fused)
        assert out.dtype == torch.float16 and torch.isfinite(out).all()
        err = (out.float() - ref).abs().max() / ref.abs().max()
        assert err <= MAX_ERROR_UNITS * UNIT_ROUNDOFF["float16"], err
    # without demodulation (ToRGB) nothing is rescaled: the same values as in float32, rounded
    small = modulated_conv2d(x.half() / 100, weight, styles / 1e3, demodulate=False, fused=False)
    small_ref = modulated_conv2d(x / 100, weight, styles / 1e3, demodulate=False, fused=False)
    assert (small.float() - small_ref).abs().max() <= MAX_ERROR_UNITS * UNIT_ROUNDOFF["float16"] * small_ref.abs().max()


def build(path, tmp_path, **cfg):
    return GENERATORS.get("stylegan2ada")(dict(pickle=str(path) if path else None, **cfg), data_cfg=None,
                                          artifacts_root=str(tmp_path / "artifacts"), device=torch.device("cpu"))


def test_zoo_option_provenance_and_float32_outputs(tmp_path, caplog):
    G, D, gk, dk = make_networks(0, seed=6)
    path = write_official_pickle(tmp_path / "g.pkl", G, D, gk, dk)
    plain, bf16 = build(path, tmp_path), build(path, tmp_path, precision="bfloat16")
    assert plain.provenance["precision"] == plain.provenance["precision_effective"] == "float32"
    assert bf16.provenance["precision"] == bf16.provenance["precision_effective"] == "bfloat16"
    assert bf16.provenance["reduced_precision_blocks"] == ["b8", "b16", "b32"]
    a = plain.sample(8, rng=torch.Generator().manual_seed(0))
    b = bf16.sample(8, rng=torch.Generator().manual_seed(0))
    check_close([b.images] + b.features, [a.images] + a.features, "bfloat16", ["image", "b4", "b8", "b16", "b32"])
    assert torch.equal(a.w, b.w)  # the mapping stays float32
    with caplog.at_level(logging.WARNING, logger=sg.__name__):
        fp16 = build(path, tmp_path, precision="float16")
    assert fp16.provenance["precision"] == "float16" and fp16.provenance["precision_effective"] == "float32"
    assert any("float16 is CUDA-only" in r.getMessage() for r in caplog.records)  # said when it is built
    c = fp16.sample(8, rng=torch.Generator().manual_seed(0))
    assert torch.equal(c.images, a.images) and all(torch.equal(x, y) for x, y in zip(c.features, a.features))


def test_an_invalid_precision_is_an_error_naming_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"generator\.precision='fp8'.*float32, float16, bfloat16"):
        build(None, tmp_path, precision="fp8")
    with pytest.raises(ValueError, match="generator.precision='half'"):
        zoo.StyleGAN2ADAGenerator(make_networks(0)[0], precision="half")
    with pytest.raises(ValueError, match="precision must be one of"):
        make_networks(0)[0].set_precision("float64")


def test_fused_modconv_option(tmp_path):
    """``fused_modconv``: null = the official rule; true / false force one path; the same function up to
    float32 rounding (the unfused demodulation coefficients are a matmul, the fused ones a sum)."""
    G, D, gk, dk = make_networks(0, seed=7)
    path = write_official_pickle(tmp_path / "g.pkl", G, D, gk, dk)
    outs = {}
    for choice in (None, True, False):
        gen = build(path, tmp_path, fused_modconv=choice)
        assert gen.provenance["fused_modconv"] == choice
        outs[choice] = gen.sample(8, rng=torch.Generator().manual_seed(0))
    assert torch.equal(outs[None].images, outs[True].images)  # float32 in eval: fused
    for a, b in zip([outs[False].images] + outs[False].features, [outs[True].images] + outs[True].features):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="generator.fused_modconv='yes'"):
        build(path, tmp_path, fused_modconv="yes")


def test_expected_file_is_quoted_when_no_pickle_is_given(tmp_path):
    """(Not precision: the zoo's other new option.) An unpublished network: the error names its file."""
    with pytest.raises(ValueError, match="generator.pickle=/path/to/stl10u-my128-best-fid20.86.pkl"):
        build(None, tmp_path, expected_file="stl10u-my128-best-fid20.86.pkl")
