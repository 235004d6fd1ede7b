"""generator_representations: the three embeddings of the poster's Fig. 2 and one label per sample."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from benchmark.analysis.representations import generator_representations
from tests.helpers.analysis import ConditionalPerLayer, brightness_labels, small_gan

def test_small_gan_shapes_rows_and_dtypes():
    G = small_gan()
    reps = generator_representations(G, 10, batch_size=4, device="cpu", seed=0, labeler=brightness_labels,
                                     progress=False)  # 4 + 4 + 2: a last batch smaller than the others
    d = G.discriminator
    disc_dim = sum(d.block_channels) + d.fc_in_dim  # pooled b32, b16, b8 + flat fc input
    assert list(reps.arrays) == ["discriminator", "latent", "generator"]
    assert reps.arrays["discriminator"].shape == (10, disc_dim)
    assert reps.arrays["latent"].shape == (10, G.w_dim)
    assert reps.arrays["generator"].shape == (10, sum(s[0] for s in G.feature_shapes))
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in reps.arrays.values())
    assert reps.labels.shape == (10,) and reps.labels.dtype == np.int64 and set(reps.labels) <= {0, 1}
    assert reps.images.shape == (10, 1, 32, 32) and reps.images.dtype == np.uint8
    assert set(reps.layout) == set(reps.arrays)


def test_rows_match_the_generator_and_the_seed():
    G = small_gan()
    reps = generator_representations(G, 6, batch_size=6, device="cpu", seed=3, labeler=brightness_labels,
                                     progress=False)
    out = G.sample(6, rng=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(reps.arrays["latent"], out.w.numpy(), rtol=1e-6)
    pooled = torch.cat([f.mean(dim=(2, 3)) for f in out.features], dim=1)
    np.testing.assert_allclose(reps.arrays["generator"], pooled.numpy(), rtol=1e-5, atol=1e-6)
    maps, fc_in = G.discriminator.features(out.images)
    expected = torch.cat([m.mean(dim=(2, 3)) for m in maps] + [fc_in], dim=1)
    np.testing.assert_allclose(reps.arrays["discriminator"], expected.numpy(), rtol=1e-5, atol=1e-6)
    again = generator_representations(G, 6, batch_size=6, device="cpu", seed=3, labeler=brightness_labels,
                                      keep_images=False, progress=False)
    assert again.images is None
    assert all(np.array_equal(again.arrays[k], reps.arrays[k]) for k in reps.arrays)


def test_generator_without_discriminator_has_no_such_entry(caplog):
    G = small_gan(with_discriminator=False)
    with caplog.at_level(logging.INFO, logger="benchmark.analysis.representations"):
        reps = generator_representations(G, 5, batch_size=5, device="cpu", seed=0, labeler=brightness_labels,
                                         progress=False)
    assert list(reps.arrays) == ["latent", "generator"]
    assert "no discriminator" in caplog.text


def test_own_labels_of_a_conditional_generator_and_flattened_w_plus():
    G = ConditionalPerLayer(layers=3)
    reps = generator_representations(G, 7, batch_size=3, device="cpu", seed=1, progress=False)
    expected = torch.randint(4, (3,), generator=torch.Generator().manual_seed(1))  # the first batch's labels
    assert np.array_equal(reps.labels[:3], expected.numpy())
    assert reps.arrays["latent"].shape == (7, 3 * G.w_dim)
    assert "discriminator" not in reps.arrays


def test_labeler_forms_and_errors():
    G = small_gan(with_discriminator=False)
    with pytest.raises(ValueError, match="unconditional"):
        generator_representations(G, 4, 4, "cpu", 0, labeler=None, progress=False)

    def scores(images):  # (N, K) class scores: the top class is the label
        return torch.stack([images.mean(dim=(1, 2, 3)), -images.mean(dim=(1, 2, 3)), torch.zeros(len(images))], 1)

    class Classifier:
        def predict(self, images):
            return scores(images).argmax(1)

    a = generator_representations(G, 8, 8, "cpu", 0, labeler=scores, keep_images=False, progress=False)
    b = generator_representations(G, 8, 8, "cpu", 0, labeler=Classifier(), keep_images=False, progress=False)
    assert np.array_equal(a.labels, b.labels)
    with pytest.raises(ValueError, match="floating-point"):
        generator_representations(G, 4, 4, "cpu", 0, labeler=lambda x: x.mean(dim=(1, 2, 3)), progress=False)
