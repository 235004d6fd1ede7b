"""The StyleGAN2-ADA re-implementation on tiny configs (the comparison against NVIDIA's own code is
measurements/stylegan2ada_equivalence.py; no NVIDIA code is used here)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.generators import stylegan2ada as sg
from benchmark.generators import stylegan2ada_discriminator as sgd
from benchmark.generators import stylegan2ada_layers as layers
from benchmark.generators import stylegan2ada_ops as ops
from tests.helpers.stylegan import randomize_

Z, W = 16, 16


def make_g(res=16, c_dim=0, arch="skip", **synth):
    torch.manual_seed(0)
    synth = dict(dict(channel_base=128, channel_max=16, architecture=arch), **synth)
    return sg.Generator(z_dim=Z, c_dim=c_dim, w_dim=W, img_resolution=res, img_channels=3,
                        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=synth).eval()


def make_d(res=16, c_dim=0, arch="resnet", **kw):
    torch.manual_seed(1)
    return sgd.Discriminator(c_dim=c_dim, img_resolution=res, img_channels=3, architecture=arch, channel_base=128,
                            channel_max=16, **kw).eval()


@pytest.mark.parametrize("arch", ["orig", "skip", "resnet"])
def test_generator_shapes_features_ws(arch):
    G = make_g(arch=arch)
    z = torch.randn(3, Z)
    img, feats, ws = G.features(z, None, noise_mode="const")
    assert img.shape == (3, 3, 16, 16)
    assert G.num_ws == 6 == G.synthesis.num_ws  # b4: 1 conv, b8/b16: 2 convs, + the last ToRGB
    assert ws.shape == (3, 6, W)
    assert G.synthesis.feature_names == ["b4", "b8", "b16"]
    assert [tuple(f.shape[1:]) for f in feats] == G.synthesis.feature_shapes == [(16, 4, 4), (16, 8, 8), (8, 16, 16)]
    assert torch.equal(img, G(z, None, noise_mode="const"))
    # feature list = every block's x output
    outs = []
    blocks = [getattr(G.synthesis, n) for n in ("b4", "b8", "b16")]
    hooks = [b.register_forward_hook(lambda m, i, o: outs.append(o[0])) for b in blocks]
    G.synthesis(ws, noise_mode="const")
    for h in hooks:
        h.remove()
    assert all(torch.equal(a, b) for a, b in zip(outs, feats))


def test_state_dict_names_follow_official_layout():
    G = make_g(res=32, c_dim=10)
    sd = G.state_dict()
    shapes = {
        "mapping.fc0.weight": (W, Z + W), "mapping.fc1.bias": (W,), "mapping.w_avg": (W,),
        "mapping.embed.weight": (W, 10), "mapping.embed.bias": (W,),
        "synthesis.b4.const": (16, 4, 4), "synthesis.b4.resample_filter": (4, 4),
        "synthesis.b4.conv1.weight": (16, 16, 3, 3), "synthesis.b4.conv1.affine.weight": (16, W),
        "synthesis.b4.conv1.affine.bias": (16,), "synthesis.b4.conv1.noise_const": (4, 4),
        "synthesis.b4.conv1.noise_strength": (), "synthesis.b4.conv1.resample_filter": (4, 4),
        "synthesis.b8.conv0.noise_const": (8, 8), "synthesis.b8.conv0.weight": (16, 16, 3, 3),
        "synthesis.b8.torgb.weight": (3, 16, 1, 1), "synthesis.b8.torgb.bias": (3,),
        "synthesis.b8.torgb.affine.weight": (16, W), "synthesis.b32.conv1.weight": (4, 4, 3, 3),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert "synthesis.b4.conv0.weight" not in sd and "synthesis.b4.torgb.resample_filter" not in sd
    assert len(sd) == 2 + 2 * 2 + 1 + (2 + 7 + 4) + 3 * (1 + 2 * 7 + 4)  # embed, fc0-1, w_avg, b4, b8..b32
    torch.testing.assert_close(sd["synthesis.b4.resample_filter"],
                               torch.tensor([1.0, 3, 3, 1]).outer(torch.tensor([1.0, 3, 3, 1])) / 64)
    # the exact key list (names and order) of a tiny unconditional generator
    tiny = sg.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8))
    layer = ["weight", "noise_strength", "bias", "resample_filter", "noise_const", "affine.weight", "affine.bias"]
    torgb = ["weight", "bias", "affine.weight", "affine.bias"]
    expected = (["synthesis.b4.const", "synthesis.b4.resample_filter"] + [f"synthesis.b4.conv1.{k}" for k in layer]
                + [f"synthesis.b4.torgb.{k}" for k in torgb] + ["synthesis.b8.resample_filter"]
                + [f"synthesis.b8.conv{i}.{k}" for i in (0, 1) for k in layer]
                + [f"synthesis.b8.torgb.{k}" for k in torgb]
                + ["mapping.w_avg", "mapping.fc0.weight", "mapping.fc0.bias", "mapping.fc1.weight", "mapping.fc1.bias"])
    assert list(tiny.state_dict()) == expected
    # 'orig' has a ToRGB only in the last block; 'resnet' adds a bias-free 1x1 skip
    sd_orig = make_g(arch="orig").state_dict()
    assert "synthesis.b8.torgb.weight" not in sd_orig and "synthesis.b16.torgb.weight" in sd_orig
    sd_res = make_g(arch="resnet").state_dict()
    assert sd_res["synthesis.b8.skip.weight"].shape == (16, 16, 1, 1) and "synthesis.b8.skip.bias" not in sd_res


def test_discriminator_names_features_and_logits():
    D = make_d(res=32, c_dim=10, epilogue_kwargs=dict(mbstd_group_size=2))
    sd = D.state_dict()
    shapes = {"b32.fromrgb.weight": (4, 3, 1, 1), "b32.conv0.weight": (4, 4, 3, 3), "b32.conv1.weight": (8, 4, 3, 3),
              "b32.skip.weight": (8, 4, 1, 1), "b32.resample_filter": (4, 4), "b4.conv.weight": (16, 17, 3, 3),
              "b4.fc.weight": (16, 16 * 16), "b4.out.weight": (16, 16), "mapping.embed.weight": (16, 10),
              "mapping.fc7.weight": (16, 16)}
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert "b16.fromrgb.weight" not in sd and "b32.skip.bias" not in sd and "mapping.w_avg" not in sd
    img = torch.randn(4, 3, 32, 32)
    c = F.one_hot(torch.arange(4), 10).float()
    maps, flat = D.features(img, c)
    assert [tuple(m.shape[1:]) for m in maps] == [(8, 16, 16), (16, 8, 8), (16, 4, 4)]
    assert flat.shape == (4, 16) and D.features(img, flat="fc")[1].shape == (4, 16 * 16)
    logits = D(img, c)
    assert logits.shape == (4, 1)
    # the logit is the cmap projection of b4.out applied to the flat features
    cmap = D.mapping(None, c)
    torch.testing.assert_close(logits, (D.b4.out(flat) * cmap).sum(1, keepdim=True) / 4.0)
    assert not torch.allclose(logits, D(img, c.roll(1, dims=0)))
    # 'skip' gives every block (and the epilogue) a fromrgb; 'orig' only the first block
    sd_skip = make_d(arch="skip").state_dict()
    assert {"b16.fromrgb.weight", "b8.fromrgb.weight", "b4.fromrgb.weight"} <= set(sd_skip)
    sd_orig = make_d(arch="orig").state_dict()
    assert "b8.fromrgb.weight" not in sd_orig and "b16.skip.weight" not in sd_orig
    assert make_d(arch="skip")(img[:, :, :16, :16], None).shape == (4, 1)


def test_truncation_and_w_avg():
    G = make_g()
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(W))
    z = torch.randn(4, Z)
    ws0 = G.mapping(z, None, truncation_psi=0)
    torch.testing.assert_close(ws0, G.mapping.w_avg.expand(4, G.num_ws, W))
    ws = G.mapping(z, None)
    assert torch.equal(ws[:, 0], ws[:, -1])  # one w broadcast to every layer
    cut = G.mapping(z, None, truncation_psi=0, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, :2], G.mapping.w_avg.expand(4, 2, W))
    assert torch.equal(cut[:, 2:], ws[:, 2:])
    half = G.mapping(z, None, truncation_psi=0.5)
    torch.testing.assert_close(half, 0.5 * (ws + G.mapping.w_avg))
    # training mode tracks w_avg = lerp(mean w, w_avg, beta)
    before = G.mapping.w_avg.clone()
    G.mapping.train()
    w = G.mapping(z, None)[:, 0]
    torch.testing.assert_close(G.mapping.w_avg, w.mean(0) + 0.995 * (before - w.mean(0)))


def test_noise_modes_and_labels():
    G = make_g(res=16, c_dim=5)
    randomize_(G)
    z, c = torch.randn(2, Z), F.one_hot(torch.tensor([0, 3]), 5).float()
    a, b = G(z, c, noise_mode="const"), G(z, c, noise_mode="const")
    assert torch.equal(a, b)
    assert torch.equal(G(z, c, noise_mode="none"), G(z, c, noise_mode="none"))
    assert not torch.allclose(a, G(z, c, noise_mode="none"))
    torch.manual_seed(5)
    r1 = G(z, c, noise_mode="random")
    assert not torch.allclose(r1, G(z, c, noise_mode="random"))
    torch.manual_seed(5)
    assert torch.equal(r1, G(z, c, noise_mode="random"))
    other = F.one_hot(torch.tensor([1, 4]), 5).float()
    assert not torch.allclose(a, G(z, other, noise_mode="const"))
    with pytest.raises(ValueError):
        G(z, None)


@pytest.mark.parametrize("arch", ["orig", "skip", "resnet"])
def test_fused_and_unfused_modulated_conv_agree(arch):
    G = make_g(arch=arch, conv_clamp=1.0)
    randomize_(G, 3)
    ws = G.mapping(torch.randn(3, Z), None)
    fused = G.synthesis(ws, noise_mode="const", fused_modconv=True)
    plain = G.synthesis(ws, noise_mode="const", fused_modconv=False)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    assert fused.abs().max() <= 1.0 * (1 if arch != "skip" else 3) + 1e-6  # ToRGB outputs clamped to +-1


def test_resampling_ops():
    f = ops.make_resample_filter()
    x = torch.randn(2, 3, 6, 6)
    # upsampling by 2: zero insertion, pad 2 before / 1 after, the filter times 4 (checked by hand)
    z = torch.zeros(2, 3, 12, 12)
    z[:, :, ::2, ::2] = x
    ref = F.conv2d(F.pad(z, [2, 1, 2, 1]), (4 * f).flip([0, 1]).expand(3, 1, 4, 4), groups=3)
    torch.testing.assert_close(ops.upsample_2x(x, f), ref)
    const = torch.ones(1, 1, 8, 8)
    assert torch.allclose(ops.upsample_2x(const, f)[..., 2:-2, 2:-2], torch.ones(1))
    assert torch.allclose(ops.downsample_2x(const, f)[..., 1:-1, 1:-1], torch.ones(1))
    assert ops.downsample_2x(x, f).shape == (2, 3, 3, 3)
    # conv with up=2 == true convolution (flipped weight) of the upsampled, padded input
    w = torch.randn(5, 3, 3, 3)
    direct = ops.conv2d_up2(x, w, f)
    slow = F.conv2d(ops.fir_resample(x, f, up=2, pad=(3, 2, 3, 2), gain=4), w.flip([2, 3]))
    torch.testing.assert_close(direct, slow, atol=1e-5, rtol=1e-5)
    w1 = torch.randn(5, 3, 1, 1)
    torch.testing.assert_close(ops.conv2d_up2(x, w1, f), ops.upsample_2x(F.conv2d(x, w1), f), atol=1e-5, rtol=1e-5)
    # conv with down=2 == correlation padded by 1 after the filter, every second pixel
    down = ops.conv2d_down2(x, w, f)
    slow = F.conv2d(ops.fir_resample(x, f, pad=(2, 2, 2, 2)), w)[..., ::2, ::2]
    torch.testing.assert_close(down, slow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ops.conv2d_down2(x, w1, f), F.conv2d(ops.downsample_2x(x, f), w1), atol=1e-5, rtol=1e-5)


def test_layers_gains_and_minibatch_std():
    fc = layers.FullyConnectedLayer(4, 3, lr_multiplier=0.01, bias_init=1)
    assert fc.weight_gain == pytest.approx(0.01 / 2) and fc.bias_gain == 0.01  # lr_mult / sqrt(in_features)
    torch.testing.assert_close(fc.bias, torch.ones(3))
    x = torch.randn(2, 4)
    torch.testing.assert_close(fc(x), x @ (fc.weight * 0.01 / 2).t() + 0.01)
    act = ops.bias_act(torch.tensor([[-1.0, 2.0]]), torch.tensor([0.0, 1.0]), act="lrelu", clamp=4)
    torch.testing.assert_close(act, torch.tensor([[-0.2 * math.sqrt(2), 4.0]]))
    mb = sgd.MinibatchStdLayer(group_size=2, num_channels=1)
    x = torch.arange(4.0).reshape(4, 1, 1, 1)  # groups are samples {0, 2} and {1, 3}
    y = mb(x)
    assert y.shape == (4, 2, 1, 1)
    torch.testing.assert_close(y[:, 1].flatten(), torch.full((4,), math.sqrt(1 + 1e-8)))


def test_state_dict_round_trip_and_freeze_d():
    G1, G2 = make_g(res=16, c_dim=3, arch="resnet"), make_g(res=16, c_dim=3, arch="resnet")
    randomize_(G1, 7)
    G2.load_state_dict(G1.state_dict(), strict=True)
    z, c = torch.randn(2, Z), F.one_hot(torch.tensor([0, 2]), 3).float()
    assert torch.equal(G1(z, c, noise_mode="const"), G2(z, c, noise_mode="const"))
    D = make_d(block_kwargs=dict(freeze_layers=2))
    names = dict(D.named_buffers())
    assert "b16.fromrgb.weight" in names and "b16.conv0.weight" in names and "b16.conv1.weight" not in names
    assert set(D.state_dict()) == set(make_d().state_dict())
    assert sg.CIFAR10_G_KWARGS["synthesis_kwargs"]["channel_base"] == 32768
    assert sgd.CIFAR10_D_KWARGS["architecture"] == "orig"
