"""The pretrained-GAN adapters biggan_cifar10, autogan_cifar10 and biggan_deep, with random weights.

Key names checked here were read from the official code:
* DiffAugment BigGAN: mit-han-lab/data-efficient-gans, DiffAugment-biggan-cifar/BigGAN.py (``Generator``:
  ``linear``, ``blocks[i][0]`` GBlocks, ``output_layer``) and layers.py (``SN``: buffers ``u0``, ``sv0``;
  ``GBlock``: ``conv1``, ``conv2``, ``conv_sc``, ``bn1``, ``bn2``; ``ccbn``: ``gain``, ``bias``,
  ``stored_mean``, ``stored_var``; ``bn``: parameters ``gain``, ``bias``).
* AutoGAN: VITA-Group/AutoGAN, models/autogan_cifar10_a.py (``l1``, ``cell1..3``, ``to_rgb`` Sequential)
  and models/building_blocks.py (``Cell``: ``c1``, ``c2``, ``c_sc``, ``skip_in_ops``).
* BigGAN-deep: the names are the package's own (pytorch_pretrained_biggan/model.py), under ``model.``.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmark.generators.autogan_cifar import AutoGANGenerator, autogan_cifar10
from tests.helpers.biggan import randomise_buffers, tiny_biggan, write_tiny_biggan
from benchmark.generators.biggan_cifar import BigGANCifarGenerator, biggan_cifar10
from benchmark.generators.pretrained_files import CheckpointNotFoundError
from benchmark.registry import GENERATORS

CPU = torch.device("cpu")


def check_output(G, out, n):
    assert out.images.shape == (n, G.image_channels, G.resolution, G.resolution)
    assert out.images.min() >= -1 and out.images.max() <= 1
    assert torch.isfinite(out.images).all()
    assert out.w.shape == (n, G.w_dim)
    assert len(out.features) == len(G.feature_names) == len(G.feature_shapes)
    assert [tuple(f.shape[1:]) for f in out.features] == [tuple(s) for s in G.feature_shapes]
    assert all(f.shape[0] == n for f in out.features)


def test_registered():
    assert {"biggan_cifar10", "autogan_cifar10", "biggan_deep"} <= set(GENERATORS.names())


# -------------------------------------------------------------------------------- DiffAugment BigGAN
def test_biggan_cifar_state_dict_names_and_shapes():
    G = BigGANCifarGenerator()  # the released CIFAR-10 configuration (G_ch 64, 10 classes)
    shapes = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    expected = {
        "linear.weight": (4096, 128), "linear.u0": (1, 4096), "linear.sv0": (1,),
        "blocks.0.0.conv1.weight": (256, 256, 3, 3), "blocks.0.0.conv1.u0": (1, 256),
        "blocks.2.0.conv_sc.weight": (256, 256, 1, 1), "blocks.2.0.conv_sc.sv0": (1,),
        "blocks.1.0.bn1.gain.weight": (10, 256), "blocks.1.0.bn2.bias.weight": (10, 256),
        "blocks.1.0.bn1.stored_mean": (256,), "blocks.1.0.bn1.stored_var": (256,),
        "output_layer.0.gain": (256,), "output_layer.0.bias": (256,), "output_layer.0.stored_var": (256,),
        "output_layer.2.weight": (3, 256, 3, 3), "output_layer.2.u0": (1, 3),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    assert not any(k.startswith("shared.") for k in shapes)  # G_shared=False: G.shared is an identity
    assert len(shapes) == 72  # 3 blocks x (3 SN convs x 4 + 2 ccbn x 4) + linear 4 + output 4 + 4
    assert (G.z_dim, G.w_dim, G.num_classes, G.resolution) == (128, 138, 10, 32)
    assert G.feature_shapes == [(256, 8, 8), (256, 16, 16), (256, 32, 32)]


@pytest.mark.parametrize("bn_stats", ["batch", "stored"])
def test_biggan_cifar_checkpoint_roundtrip(tmp_path, bn_stats):
    torch.manual_seed(0)
    G = BigGANCifarGenerator(G_ch=8, bn_stats=bn_stats).eval()
    randomise_buffers(G)
    path = tmp_path / "G_ema.pth"
    torch.save(G.state_dict(), path)  # the official form, a plain state dict: eval.py G.load_state_dict(torch.load(f))
    cfg = {"checkpoint": str(path), "download": False, "G_ch": 8, "bn_stats": bn_stats}
    H = biggan_cifar10(cfg, data_cfg={}, artifacts_root=str(tmp_path), device=CPU)
    assert not any(p.requires_grad for p in H.parameters()) and not H.training
    assert H.provenance["checkpoint"] == str(path) and len(H.provenance["sha256"]) == 64
    z, labels = torch.randn(6, 128), torch.tensor([0, 1, 2, 3, 9, 9])
    with torch.no_grad():
        assert torch.equal(G(z, labels), H(z, labels))
        out = H.sample(6, rng=torch.Generator().manual_seed(3))
        again = H.sample(6, rng=torch.Generator().manual_seed(3))
    check_output(H, out, 6)
    assert torch.equal(out.images, again.images)
    assert out.labels.shape == (6,) and int(out.labels.max()) < 10


def test_biggan_cifar_labels_and_bn_modes():
    torch.manual_seed(1)
    G = BigGANCifarGenerator(G_ch=8, bn_stats="stored").eval().requires_grad_(False)
    randomise_buffers(G)
    with torch.no_grad():  # class embeddings far from zero, so that classes differ visibly
        for m in G.modules():
            if isinstance(m, torch.nn.Embedding):
                m.weight.normal_(0, 0.5)
    rng = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = G.sample(4, labels=torch.tensor([1, 1, 1, 1]), rng=rng())
    b = G.sample(4, labels=torch.tensor([7, 7, 7, 7]), rng=rng())
    assert torch.equal(a.labels, torch.tensor([1, 1, 1, 1]))
    assert torch.equal(a.w[:, :128], b.w[:, :128]) and not torch.allclose(a.images, b.images)
    assert torch.equal(a.w[:, 128:], torch.nn.functional.one_hot(a.labels, 10).float())
    # stored statistics: a sample does not depend on its batch; batch statistics: it does
    single = G.synthesize(a.w[:1]).images
    assert torch.allclose(single, a.images[:1], atol=1e-5)
    G.set_bn_stats("batch")
    assert not torch.allclose(G.synthesize(a.w[:2]).images[:1], G.synthesize(a.w).images[:1], atol=1e-4)
    with pytest.raises(ValueError):
        G.sample(2, labels=torch.tensor([10, 0]))
    # differentiable in w (the latent-encoding methods optimise through synthesize)
    w = a.w.clone().requires_grad_(True)
    G.synthesize(w).images.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_biggan_cifar_shared_hier_variant():
    G = BigGANCifarGenerator(G_ch=8, G_shared=True, hier=True, shared_dim=16, dim_z=120, G_attn="16").eval()
    keys = set(G.state_dict())
    # G_shared: ccbn gain/bias are bias-free SNLinear layers (layers.SNLinear: u0/sv0); attention at 16 px
    assert {"shared.weight", "blocks.0.0.bn1.gain.weight", "blocks.0.0.bn1.gain.u0", "blocks.1.1.theta.weight",
            "blocks.1.1.gamma"} <= keys
    assert G.z_dim == 120 and G.z_chunk_size == 30 and G.w_dim == 120 + 16
    assert tuple(G.linear.weight.shape) == (32 * 16, 30)
    with torch.no_grad():
        check_output(G, G.sample(3, rng=torch.Generator().manual_seed(0)), 3)


def test_biggan_cifar_missing_checkpoint_names_path_and_url(tmp_path):
    url = "https://data-efficient-gans.mit.edu/models/DiffAugment-biggan-cifar10.pth"
    with pytest.raises(CheckpointNotFoundError) as info:
        biggan_cifar10({"download": False}, data_cfg={}, artifacts_root=str(tmp_path), device=CPU)
    expected = tmp_path / "generators" / "downloads" / "data-efficient-gans.mit.edu" / "models"
    expected = expected / "DiffAugment-biggan-cifar10.pth"
    assert str(expected.resolve()) in str(info.value) and url in str(info.value)
    with pytest.raises(ValueError, match="no option"):
        biggan_cifar10({"G_chh": 3}, data_cfg={}, artifacts_root=str(tmp_path), device=CPU)


# ---------------------------------------------------------------------------------------------- AutoGAN
def test_autogan_state_dict_names_and_shapes():
    G = AutoGANGenerator()  # latent_dim 128, gf_dim 256, bottom_width 4 (exps/autogan_cifar10_a.sh)
    shapes = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    expected = {
        "l1.weight": (4096, 128), "l1.bias": (4096,),
        "cell1.c1.weight": (256, 256, 3, 3), "cell1.c_sc.weight": (256, 256, 1, 1),
        "cell2.skip_in_ops.0.weight": (256, 256, 1, 1), "cell3.skip_in_ops.1.bias": (256,),
        "to_rgb.0.running_mean": (256,), "to_rgb.0.num_batches_tracked": (), "to_rgb.2.weight": (3, 256, 3, 3),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    # cell1 takes no skip input, cell3 has no shortcut
    assert "cell1.skip_in_ops.0.weight" not in shapes and "cell3.c_sc.weight" not in shapes
    assert len(shapes) == 31
    assert G.feature_shapes == [(256, 8, 8), (256, 16, 16), (256, 32, 32)] and G.num_classes == 0


@pytest.mark.parametrize("form", ["state_dict", "training_checkpoint"])
def test_autogan_checkpoint_roundtrip(tmp_path, form):
    torch.manual_seed(0)
    G = AutoGANGenerator(gf_dim=16).eval()
    randomise_buffers(G)
    path = tmp_path / "autogan_cifar10_a.pth"
    if form == "state_dict":
        torch.save(G.state_dict(), path)
    else:  # train.py's checkpoint: test.py takes avg_gen_state_dict; best_fid is a numpy float there
        other = {k: torch.zeros_like(v) for k, v in G.state_dict().items()}
        torch.save({"epoch": 7, "gen_model": "autogan_cifar10_a", "gen_state_dict": other,
                    "avg_gen_state_dict": G.state_dict(), "best_fid": np.float64(12.4),
                    "path_helper": {"prefix": "logs/x"}}, path)
    H = autogan_cifar10({"checkpoint": str(path), "gf_dim": 16}, data_cfg={}, artifacts_root=str(tmp_path), device=CPU)
    z = torch.randn(5, 128)
    with torch.no_grad():
        assert torch.equal(G(z), H(z))
        out = H.sample(5, rng=torch.Generator().manual_seed(2))
    check_output(H, out, 5)
    assert out.labels is None
    with pytest.raises(ValueError, match="unconditional"):
        H.sample(2, labels=torch.tensor([0, 1]))
    # truncation shrinks z towards 0
    t = H.sample(5, truncation=0.5, rng=torch.Generator().manual_seed(2))
    assert torch.allclose(t.w, 0.5 * out.w)


def test_autogan_missing_checkpoint_names_path_and_url(tmp_path):
    with pytest.raises(CheckpointNotFoundError) as info:
        autogan_cifar10({}, data_cfg={}, artifacts_root=str(tmp_path), device=CPU)
    message = str(info.value)
    expected = tmp_path / "generators" / "downloads" / "autogan_cifar10" / "autogan_cifar10_a.pth"
    assert str(expected.resolve()) in message
    assert "https://drive.google.com/drive/folders/1IYDNrKY3m97K3bx_uIzOL6vFmCjGNpYZ" in message


# ------------------------------------------------------------------------------------------ BigGAN-deep
def test_biggan_deep_wraps_the_package(tmp_path):
    pkg, config, model = tiny_biggan()
    from benchmark.generators.biggan_deep import BigGANDeepGenerator, biggan_deep

    folder = write_tiny_biggan(tmp_path / "biggan-tiny")  # the package's from_pretrained folder layout
    G = biggan_deep({"checkpoint": str(folder), "truncation": 0.4}, data_cfg={}, artifacts_root=str(tmp_path),
                    device=CPU)
    assert isinstance(G, BigGANDeepGenerator) and G.truncation == 0.4
    keys = set(G.state_dict())
    assert {"model.embeddings.weight", "model.generator.gen_z.weight_orig", "model.generator.layers.2.gamma",
            "model.generator.layers.0.bn_0.running_means", "model.generator.conv_to_rgb.weight_orig"} <= keys
    assert (G.z_dim, G.w_dim, G.num_classes, G.resolution) == (8, 16, 5, 16)
    # four GenBlocks (the SelfAttn layer at position 2 is not a feature)
    assert G.feature_shapes == [(32, 4, 4), (16, 8, 8), (8, 8, 8), (4, 16, 16)]
    z, labels = torch.randn(3, 8), torch.tensor([0, 2, 4])
    with torch.no_grad():
        # the package's own forward: cond vector cat(z, embeddings(one_hot)), BN statistics of the truncation
        reference = model(z, torch.nn.functional.one_hot(labels, 5).float(), 0.4)
        assert torch.equal(G(z, labels), reference)
        w = torch.cat([z, model.embeddings(torch.nn.functional.one_hot(labels, 5).float())], 1)
        assert torch.equal(G.synthesize(w).images, reference)
        assert not torch.allclose(G.synthesize(w, truncation=1.0).images, reference)
        out = G.sample(3, labels=labels, rng=torch.Generator().manual_seed(0))
    check_output(G, out, 3)
    assert torch.equal(out.labels, labels)
    assert out.w[:, :8].abs().max() <= 2 * 0.4  # truncation * truncnorm(-2, 2)
    with pytest.raises(ValueError):
        G.sample(2, truncation=1.5)


def test_biggan_deep_missing_weights_names_paths_and_urls(tmp_path):
    pytest.importorskip("pytorch_pretrained_biggan", reason="optional extra: pip install 'ganrep-bench[biggan]'")
    from benchmark.generators.biggan_deep import biggan_deep

    with pytest.raises(CheckpointNotFoundError) as info:
        biggan_deep({"download": False}, data_cfg={}, artifacts_root=str(tmp_path), device=CPU)
    message = str(info.value)
    assert "https://s3.amazonaws.com/models.huggingface.co/biggan/biggan-deep-128-config.json" in message
    assert str((tmp_path / "generators" / "downloads" / "s3.amazonaws.com").resolve()) in message
    with pytest.raises(CheckpointNotFoundError, match="config.json"):
        biggan_deep({"checkpoint": str(tmp_path / "nowhere")}, data_cfg={}, artifacts_root=str(tmp_path), device=CPU)


def test_biggan_deep_without_the_package_says_how_to_install(monkeypatch):
    import sys

    from benchmark.generators import biggan_deep as module

    monkeypatch.setitem(sys.modules, "pytorch_pretrained_biggan", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install pytorch-pretrained-biggan"):
        module.import_package()


def test_pretrained_files_download_failure_names_path_and_url(tmp_path, monkeypatch):
    from benchmark.generators import pretrained_files

    def offline(url, dst):
        raise OSError("network unreachable")

    monkeypatch.setattr(pretrained_files, "download", offline)
    target = tmp_path / "x" / "G.pth"
    with pytest.raises(CheckpointNotFoundError) as info:
        pretrained_files.ensure_checkpoint(target, "https://example.org/G.pth", None, True, "test gen")
    assert str(target.resolve()) in str(info.value) and "https://example.org/G.pth" in str(info.value)
    assert "network unreachable" in str(info.value)
    target.parent.mkdir(parents=True)
    torch.save({"a": torch.ones(1)}, target)
    with pytest.raises(ValueError, match="SHA-256"):
        pretrained_files.ensure_checkpoint(target, None, "0" * 64, False, "test gen")
    path, prov = pretrained_files.ensure_checkpoint(target, None, None, False, "test gen")
    assert path == target and prov["downloaded"] is False and not prov["sha256_pinned"]
    assert json.dumps(prov)  # goes into the result record


def test_biggan_deep_samples_only_the_chosen_imagenet_classes(tmp_path):
    from benchmark.data.imagenet import IMAGENET100_LIST
    from benchmark.generators.biggan_deep import biggan_deep, imagenet_class_ids

    ids = imagenet_class_ids("imagenet100")
    # ILSVRC-2012 indices are the wnids' ranks in sorted order: bonnet n02869837 = 452, green mamba n01749939 = 64
    assert len(set(ids)) == 100 and ids[:2] == [452, 64]
    assert imagenet_class_ids(None) is None
    folder = write_tiny_biggan(tmp_path / "tiny", num_classes=1000)
    G = biggan_deep({"checkpoint": str(folder), "classes": "imagenet100"}, data_cfg={}, artifacts_root=str(tmp_path),
                    device=CPU)
    with torch.no_grad():
        labels = G.sample(500, rng=torch.Generator().manual_seed(0)).labels
    assert set(labels.tolist()) <= set(ids) and len(set(labels.tolist())) > 80  # uniform over the 100
    own = tmp_path / "three.txt"
    own.write_text("n01440764\nn01443537\n\n")
    assert imagenet_class_ids(str(own)) == [0, 1]
    bad = tmp_path / "bad.txt"
    bad.write_text("n99999999\n")
    with pytest.raises(ValueError, match="not ILSVRC-2012 classes"):
        imagenet_class_ids(str(bad))
    with pytest.raises(ValueError, match="neither null, imagenet100 nor a file"):
        imagenet_class_ids("imagenet1k")
    assert IMAGENET100_LIST.is_file()
