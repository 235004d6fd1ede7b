from __future__ import annotations

import torch

from benchmark.generators.small_gan import SmallDiscriminator, SmallGenerator


def test_sample_shapes_and_range(small_generator):
    out = small_generator.sample(5, rng=torch.Generator().manual_seed(0))
    assert out.images.shape == (5, 1, 32, 32)
    assert out.images.min() >= -1 and out.images.max() <= 1
    assert small_generator.feature_names == ["b4", "b8", "b16", "b32"]
    assert [tuple(f.shape[1:]) for f in out.features] == small_generator.feature_shapes
    assert out.w.shape == (5, small_generator.w_dim)


def test_sampling_is_reproducible_and_truncation_pulls_to_mean(small_generator):
    a = small_generator.sample(4, rng=torch.Generator().manual_seed(3))
    b = small_generator.sample(4, rng=torch.Generator().manual_seed(3))
    assert torch.equal(a.images, b.images)
    t = small_generator.sample(4, truncation=0.0, rng=torch.Generator().manual_seed(3))
    assert torch.allclose(t.w, small_generator.w_avg.expand_as(t.w))


def test_discriminator_features():
    D = SmallDiscriminator(8, 32, 1)
    maps, fc_in = D.features(torch.zeros(2, 1, 32, 32))
    assert [m.shape[-1] for m in maps] == [16, 8, 4]
    assert fc_in.shape == (2, D.fc_in_dim)
    assert D(torch.zeros(2, 1, 32, 32)).shape == (2,)


def test_generator_is_trainable_end_to_end():
    G = SmallGenerator(16, 32, 32, 32, 1)
    G(torch.randn(3, 16)).sum().backward()
    assert all(p.grad is not None for p in G.parameters())
