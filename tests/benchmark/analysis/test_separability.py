"""separability: k-NN accuracy and silhouette, full space and UMAP 2-D, on data whose answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.analysis.separability import (
    MEASURES,
    SPACES,
    as_dataframe,
    chance_accuracy,
    knn_accuracy,
    separability,
    silhouette,
)
from tests.helpers.analysis import cache_umap_jit

pytest.importorskip("umap")
cache_umap_jit()


def blobs_and_noise(n: int = 60, dim: int = 12, seed: int = 0):
    """Two well-separated Gaussian blobs labelled by blob, and one Gaussian cloud with coin-flip labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n // 2)
    centres = np.zeros((2, dim))
    centres[1, 0] = 12.0  # 12 standard deviations apart
    blobs = (centres[labels] + rng.standard_normal((n, dim))).astype(np.float32)
    noise = rng.standard_normal((n, dim)).astype(np.float32)
    return {"blobs": blobs, "noise": noise}, labels


@pytest.fixture(scope="module")
def result():
    arrays, labels = blobs_and_noise()
    # one array per label set: the noise array gets labels of its own, drawn independently of it
    noise_labels = np.random.default_rng(1).permutation(labels)
    return (separability({"blobs": arrays["blobs"]}, labels, seed=0),
            separability({"noise": arrays["noise"]}, noise_labels, seed=0))


def test_separable_data_score_high_and_noise_labels_near_chance(result):
    blobs, noise = result
    for space in SPACES:
        assert blobs["numbers"]["blobs"][space]["knn_accuracy"] >= 95
        assert blobs["numbers"]["blobs"][space]["silhouette"] > 0.5
        assert abs(noise["numbers"]["noise"][space]["knn_accuracy"] - 50) <= 20
        assert abs(noise["numbers"]["noise"][space]["silhouette"]) < 0.1
    assert blobs["chance_accuracy"] == 50.0
    assert blobs["embeddings"]["blobs"].shape == (60, 2) and blobs["dims"] == {"blobs": 12}


def test_numbers_are_deterministic_for_a_seed(result):
    arrays, labels = blobs_and_noise()
    again = separability({"blobs": arrays["blobs"]}, labels, seed=0)
    assert again["numbers"] == result[0]["numbers"]
    assert np.array_equal(again["embeddings"]["blobs"], result[0]["embeddings"]["blobs"])


def test_tidy_rows_cover_every_space_and_measure(result):
    rows = result[0]["rows"]
    assert {(r["space"], r["measure"]) for r in rows} == {(s, m) for s in SPACES for m in MEASURES}
    frame = as_dataframe(result[0])
    assert list(frame.columns) == ["representation", "space", "measure", "value"]
    assert len(frame) == len(SPACES) * len(MEASURES)


def test_given_embeddings_are_used_and_edge_cases():
    arrays, labels = blobs_and_noise(n=40)
    fixed = {"blobs": arrays["blobs"][:, :2].copy()}
    out = separability({"blobs": arrays["blobs"]}, labels, seed=0, embeddings=fixed)
    assert out["embeddings"]["blobs"] is fixed["blobs"]
    assert out["numbers"]["blobs"]["umap2d"]["knn_accuracy"] == knn_accuracy(fixed["blobs"], labels, 0)
    one_label = np.zeros(40, dtype=np.int64)
    assert math.isnan(knn_accuracy(arrays["noise"], one_label, 0))
    assert math.isnan(silhouette(arrays["noise"], one_label, 0))
    assert chance_accuracy(np.array([0, 0, 0, 1])) == 75.0
    # a subset silhouette is seeded, hence repeatable
    subset = silhouette(arrays["noise"], labels, 0, sample_size=20)
    assert subset == silhouette(arrays["noise"], labels, 0, sample_size=20)
    with pytest.raises(ValueError, match="rows"):
        separability({"blobs": arrays["blobs"]}, labels[:-1], seed=0, embeddings=fixed)


def test_balanced_accuracy_does_not_reward_finding_the_majority():
    """Noise features, 90% of one label: plain k-NN accuracy reads high, the balanced one sits at chance."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    labels = np.array([0] * 180 + [1] * 20)
    assert knn_accuracy(x, labels, 0) > 85.0
    assert abs(knn_accuracy(x, labels, 0, balanced=True) - 50.0) < 10.0
