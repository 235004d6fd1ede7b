"""``generator=stylegan2ada``: official-layout network pickles of small clean-room networks, loaded through
the registered generator (benchmark/generators/stylegan2ada_zoo.py); CIFAR-10 as pretraining data.

The pickles are written as NVIDIA's ``torch_utils.persistence`` writes them (every network module a
``_reconstruct_persistent_obj(meta)`` call), with the fake NVIDIA modules of tests/helpers/pickles.py.
No network access: downloads are replaced by functions that copy a local file or raise.
"""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from benchmark.data import DatasetNotFoundError, build_dataset
from benchmark.generators import stylegan2ada_zoo as zoo
from benchmark.generators.official_pickle import load_network_pickle
from benchmark.generators.official_pickle_records import state_dict_of
from benchmark.registry import GENERATORS
from tests.helpers.launching import launch
from tests.helpers.replicas import TORCHVISION_COLOURS as COLOURS
from tests.helpers.replicas import write_cifar10, write_fashion_mnist_replica
from tests.helpers.stylegan import W, Z, make_networks, write_official_pickle

@pytest.fixture(scope="module")
def pickles(tmp_path_factory):
    root = tmp_path_factory.mktemp("pickles")
    out = {}
    for c_dim, tag in ((0, "u"), (10, "c")):
        G, D, gk, dk = make_networks(c_dim, seed=3 if c_dim else 0)
        out[tag] = (write_official_pickle(root / f"cifar10{tag}.pkl", G, D, gk, dk), G, D)
    return out


def build(path, tmp_path, **cfg):
    return GENERATORS.get("stylegan2ada")(dict(pickle=str(path) if path else None, **cfg), data_cfg=None,
                                          artifacts_root=str(tmp_path / "artifacts"), device=torch.device("cpu"))


@pytest.mark.parametrize("tag", ["u", "c"])
def test_loads_exactly_the_written_networks(pickles, tmp_path, tag):
    path, G, D = pickles[tag]
    raw = load_network_pickle(path)
    assert list(state_dict_of(raw["G_ema"])) == list(G.state_dict())  # the layout really is the official one
    gen = build(path, tmp_path)
    for ours, theirs in ((gen.G, G), (gen.discriminator.D, D)):
        got, expected = ours.state_dict(), theirs.state_dict()
        assert list(got) == list(expected)
        assert all(torch.equal(got[k], expected[k]) for k in expected)
        assert not ours.training and not any(p.requires_grad for p in ours.parameters())
    assert not any(p.requires_grad for p in gen.parameters()) and not gen.training
    assert (gen.z_dim, gen.w_dim, gen.num_ws, gen.image_channels, gen.resolution) == (Z, W, 8, 3, 32)
    assert gen.num_classes == (10 if tag == "c" else 0)
    assert gen.feature_names == ["b4", "b8", "b16", "b32"]
    assert gen.feature_shapes == [(32, 4, 4), (32, 8, 8), (32, 16, 16), (32, 32, 32)]
    prov = gen.provenance
    assert prov["pickle"] == str(path) and not prov["sha256_pinned"] and len(prov["sha256"]) == 64
    assert prov["networks"] == ["G_ema", "D"] and prov["G_init_kwargs"]["mapping_kwargs"] == {"num_layers": 2}
    assert gen.reused and json.dumps(prov)

    # same z (and labels), same noise -> the same images and block outputs as the written G_ema
    n = 4
    z = torch.randn(n, Z, generator=torch.Generator().manual_seed(7))
    labels = None
    out = gen.sample(n, rng=torch.Generator().manual_seed(7))
    if tag == "c":
        rng2 = torch.Generator().manual_seed(7)
        torch.randn(n, Z, generator=rng2)  # z first, then the labels, from the same generator
        labels = torch.randint(10, (n,), generator=rng2)
        assert torch.equal(out.labels, labels)
    c = torch.nn.functional.one_hot(labels, 10).float() if tag == "c" else None
    ws = G.mapping(z, c)
    img, feats = G.synthesis(ws, return_features=True, noise_mode="const")
    assert torch.equal(out.images, img.clamp(-1, 1)) and torch.equal(out.w, ws[:, 0])
    assert all(torch.equal(a, b) for a, b in zip(out.features, feats))
    assert 0.01 < (out.images.abs() < 1).float().mean()  # not all clamped
    # synthesize: (N, w_dim) broadcast to every layer = (N, num_ws, w_dim)
    assert torch.equal(gen.synthesize(ws).images, out.images) and torch.equal(gen.synthesize(ws).w, ws[:, 0])
    # random noise: the same torch seed gives the same images as the written module
    noisy = build(path, tmp_path, noise_mode="random")
    torch.manual_seed(11)
    a = noisy.synthesize(ws[:, 0]).images
    torch.manual_seed(11)
    assert torch.equal(a, G.synthesis(ws, noise_mode="random").clamp(-1, 1)) and not torch.equal(a, out.images)
    # truncation toward w_avg: the config's psi, or the call's
    half = build(path, tmp_path, truncation_psi=0.5).sample(n, rng=torch.Generator().manual_seed(7))
    assert torch.allclose(half.w, G.mapping(z, c, truncation_psi=0.5)[:, 0])
    assert torch.equal(gen.sample(n, truncation=0.5, rng=torch.Generator().manual_seed(7)).w, half.w)
    # the discriminator: block maps finest first, the flat input of b4.out
    maps, flat = gen.discriminator.features(out.images)
    ref_maps, ref_flat = D.features(out.images)
    assert torch.equal(flat, ref_flat) and all(torch.equal(a, b) for a, b in zip(maps, ref_maps))
    assert [m.shape[-1] for m in maps] == [16, 8, 4] and flat.shape == (n, 32)
    assert gen.discriminator.features(out.images[:3])[1].shape == (3, 32)  # 3 is no multiple of the group of 4


def test_sample_shapes_ranges_labels(pickles, tmp_path):
    gen = build(pickles["c"][0], tmp_path)
    out = gen.sample(6, rng=torch.Generator().manual_seed(0))
    assert out.images.shape == (6, 3, 32, 32) and out.images.dtype == torch.float32
    assert out.images.min() >= -1 and out.images.max() <= 1
    assert out.w.shape == (6, W) and out.labels.shape == (6,) and out.labels.dtype == torch.int64
    assert [tuple(f.shape[1:]) for f in out.features] == gen.feature_shapes
    again = gen.sample(6, rng=torch.Generator().manual_seed(0))
    assert torch.equal(again.images, out.images)  # const noise: the rng decides everything
    given = gen.sample(3, labels=torch.tensor([0, 9, 4]), rng=torch.Generator().manual_seed(0))
    assert given.labels.tolist() == [0, 9, 4]
    fixed = build(pickles["c"][0], tmp_path, label=2).sample(5, rng=torch.Generator().manual_seed(0))
    assert fixed.labels.tolist() == [2] * 5
    with pytest.raises(ValueError, match="class ids"):
        gen.sample(2, labels=torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"\(N, 16\) or \(N, 8, 16\)"):
        gen.synthesize(torch.zeros(2, 5))

    unconditional = build(pickles["u"][0], tmp_path)
    out = unconditional.sample(2, rng=torch.Generator().manual_seed(0))
    assert out.labels is None and out.images.shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="unconditional"):
        unconditional.sample(2, labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="unconditional"):
        build(pickles["u"][0], tmp_path, label=3)
    with pytest.raises(ValueError, match="no option.*valid options"):
        build(pickles["u"][0], tmp_path, psi=0.7)


URL = "https://example.invalid/stylegan2-ada-pytorch/pretrained/cifar10u.pkl"


def test_download_cache_and_checksums(pickles, tmp_path, monkeypatch):
    source = pickles["u"][0]
    digest = zoo.sha256_of(source)
    calls = []

    def fake_download(url, dst):
        calls.append(url)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dst)

    monkeypatch.setattr(zoo, "download", fake_download)
    cached = tmp_path / "artifacts" / "generators" / "downloads" / "example.invalid" / "stylegan2-ada-pytorch" / \
        "pretrained" / "cifar10u.pkl"
    gen = build(None, tmp_path, url=URL, sha256=digest.upper())
    assert calls == [URL] and cached.is_file() and not gen.reused
    assert gen.provenance["sha256"] == digest and gen.provenance["sha256_pinned"]
    gen = build(None, tmp_path, url=URL, sha256=digest)
    assert calls == [URL] and gen.reused  # the cache, not a second download

    wrong = "0" * 64
    with pytest.raises(zoo.ChecksumMismatchError) as info:
        build(None, tmp_path, url=URL, sha256=wrong)
    assert wrong in str(info.value) and digest in str(info.value) and str(cached) in str(info.value)
    assert not cached.exists()  # a cached file that fails the check is removed
    with pytest.raises(zoo.ChecksumMismatchError, match="left in place"):
        build(source, tmp_path, sha256=wrong)
    assert source.exists()  # a user's own file is never removed


def test_offline_error_names_path_and_url(tmp_path, monkeypatch):
    def no_network(url, dst):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(zoo, "download", no_network)
    with pytest.raises(zoo.PickleNotFoundError) as info:
        build(None, tmp_path, url=URL)
    message = str(info.value)
    expected = (tmp_path / "artifacts/generators/downloads/example.invalid/stylegan2-ada-pytorch/pretrained/cifar10u.pkl")
    assert URL in message and str(expected.resolve()) in message and "name resolution" in message
    with pytest.raises(zoo.PickleNotFoundError, match="does not exist.*example.invalid"):
        build(tmp_path / "nope.pkl", tmp_path, url=URL)


def test_cifar10_pretraining_data_in_memory(tmp_path):
    targets, classes = write_cifar10(tmp_path)
    data = build_dataset({"name": "cifar10_in_memory", "root": str(tmp_path)}, "train")
    assert data.images.dtype == torch.uint8 and data.images.shape == (10, 3, 32, 32)
    assert (data.channels, data.image_size) == (3, 32) and data.classes == classes
    assert data.labels.tolist() == targets["train"]
    for image, label in zip(data.images, data.labels):  # red, green, blue planes in order
        assert image[:, 5, 7].tolist() == list(COLOURS[label])
    batch = next(data.batches(4, torch.Generator().manual_seed(0)))
    assert batch.shape == (4, 3, 32, 32) and batch.min() >= -1 and batch.max() <= 1
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        build_dataset({"name": "cifar10_in_memory", "root": str(tmp_path / "none")}, "train")


def test_launch_end_to_end_on_a_cifar10_replica(pickles, tmp_path):
    write_cifar10(tmp_path / "datasets")
    common = ("preset=smoke", "generator=stylegan2ada_cifar10u", f"generator.pickle={pickles['u'][0]}",
              f"paths.datasets={tmp_path / 'datasets'}", "task=linear_cifar10", "task.image_size=32", "anchors=false",
              "pretrain.batch_size=8")
    result = launch(tmp_path, "method=sqsp", *common)
    assert result.returncode == 0, result.output[-4000:]
    assert "no checksum pinned" in result.output
    (record_file,) = (tmp_path / "results" / "smoke" / "linear_cifar10").glob("sqsp-*.json")
    record = json.loads(record_file.read_text())
    assert record["generator"] == "stylegan2ada" and record["config"]["data"]["name"] == "cifar10_in_memory"
    assert record["generator_provenance"]["sha256"] == zoo.sha256_of(pickles["u"][0])
    assert 0 <= record["metrics"]["top1"] <= 100

    # the default data (1-channel Fashion-MNIST) does not match a 3-channel generator: a clear error, no record
    write_fashion_mnist_replica(tmp_path / "fmnist", n_train=20, n_test=10)
    mismatch = launch(tmp_path / "mismatch", "method=sqsp", "data=fashion_mnist", f"data.root={tmp_path / 'fmnist'}",
                      *common)
    assert mismatch.returncode != 0
    assert ("generator 'stylegan2ada' makes 3-channel 32 px images but data 'fashion_mnist' has 1-channel 32 px "
            "images") in mismatch.stderr
    assert not (tmp_path / "mismatch" / "results").exists()
