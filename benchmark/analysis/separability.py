"""How class-separable an embedding is: numbers behind the poster's Fig. 2 claim, not only its picture.

The poster (Yang et al., NeurIPS 2022, Fig. 2) shows UMAP plots (McInnes, Healy & Melville, "UMAP: Uniform
Manifold Approximation and Projection for Dimension Reduction", arXiv:1802.03426, 2018) in which the generator's
features cluster by class more than the discriminator's features or the latents. Here each representation gets,
in its full space and in its 2-D UMAP embedding:

- ``knn_accuracy``: k-nearest-neighbour accuracy in percent (scikit-learn ``KNeighborsClassifier``, k = 10,
  uniform weights, Euclidean), cross-validated over 5 stratified shuffled folds (``StratifiedKFold``,
  ``random_state=seed``), the mean over folds: how often a sample's neighbours share its label;
- ``knn_balanced_accuracy``: the same k-NN, scored by balanced accuracy (the mean of the per-class recalls,
  scikit-learn's ``balanced_accuracy``): with a mode-collapsed generator one class can hold most samples, and
  plain accuracy then rewards a representation for finding the majority; chance here is 100 / (classes present);
- ``silhouette``: the silhouette coefficient of the labels as clusters (scikit-learn ``silhouette_score``,
  Euclidean), in [-1, 1], 0 for labels unrelated to the geometry. It costs O(n^2) distances, so above
  ``silhouette_sample_size`` samples it is computed on a random subset of that size (``random_state=seed``).

UMAP is ``umap.UMAP(n_components=2, random_state=seed)`` with the library's defaults otherwise (n_neighbors 15,
min_dist 0.1, Euclidean), as the authors call it (they pass no seed). A ``random_state`` makes the embedding
reproducible, and umap-learn then runs its optimisation on one thread (slower than unseeded, parallel runs).
Nothing is standardised before any of this: the authors feed the raw vectors to UMAP.
The chance level of ``knn_accuracy`` is the majority class's share (``chance_accuracy``), not 100/K: the
labels a classifier gives generated samples need not be balanced.
"""
from __future__ import annotations

import warnings
from typing import Iterable, Optional

import numpy as np

KNN_K = 10
CV_FOLDS = 5
SILHOUETTE_SAMPLE_SIZE = 10_000
SPACES = ("umap2d", "full")
MEASURES = ("knn_accuracy", "knn_balanced_accuracy", "silhouette")


def chance_accuracy(labels: np.ndarray) -> float:
    """The accuracy (percent) of always answering the most common label."""
    return 100.0 * np.bincount(np.asarray(labels)).max() / len(labels)


def knn_accuracy(x: np.ndarray, labels: np.ndarray, seed: int, k: int = KNN_K, folds: int = CV_FOLDS,
                 balanced: bool = False) -> float:
    """Mean ``folds``-fold stratified cross-validated k-NN accuracy, percent (module doc); ``balanced``: the
    balanced accuracy (mean per-class recall)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return float("nan")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # a class with fewer members than folds is missing from some folds' test split: the mean still stands
        warnings.filterwarnings("ignore", message="The least populated class in y has only")
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        scores = cross_val_score(KNeighborsClassifier(n_neighbors=k), x, labels, cv=splitter,
                                 scoring="balanced_accuracy" if balanced else "accuracy")
    return 100.0 * float(np.mean(scores))


def silhouette(x: np.ndarray, labels: np.ndarray, seed: int,
               sample_size: Optional[int] = SILHOUETTE_SAMPLE_SIZE) -> float:
    """Silhouette coefficient of ``labels`` in ``x`` (Euclidean); NaN when there are fewer than 2 labels."""
    from sklearn.metrics import silhouette_score

    n, n_labels = len(labels), len(np.unique(labels))
    if not 2 <= n_labels <= n - 1:
        return float("nan")
    subset = sample_size if sample_size is not None and sample_size < n else None
    return float(silhouette_score(x, labels, sample_size=subset, random_state=seed if subset else None))


def umap_2d(x: np.ndarray, seed: int) -> np.ndarray:
    """The 2-D UMAP embedding of ``x``: library defaults but the seed (module doc), float32 (n, 2)."""
    import umap

    with warnings.catch_warnings():
        # the seed's cost (one thread) is stated in the module doc; the library says it on every call
        warnings.filterwarnings("ignore", message="n_jobs value .* overridden to 1 by setting random_state")
        return np.asarray(umap.UMAP(n_components=2, random_state=seed).fit_transform(x), dtype=np.float32)


def measure(x: np.ndarray, labels: np.ndarray, seed: int, k: int = KNN_K, folds: int = CV_FOLDS,
            silhouette_sample_size: Optional[int] = SILHOUETTE_SAMPLE_SIZE) -> dict[str, float]:
    """Both measures of one embedding."""
    return {"knn_accuracy": knn_accuracy(x, labels, seed, k, folds),
            "knn_balanced_accuracy": knn_accuracy(x, labels, seed, k, folds, balanced=True),
            "silhouette": silhouette(x, labels, seed, silhouette_sample_size)}


def separability(arrays: dict[str, np.ndarray], labels: np.ndarray, seed: int,
                 embeddings: Optional[dict[str, np.ndarray]] = None, k: int = KNN_K, folds: int = CV_FOLDS,
                 silhouette_sample_size: Optional[int] = SILHOUETTE_SAMPLE_SIZE) -> dict:
    """Every (representation, space, measure) of ``arrays`` (name -> (n, d) rows) labelled by ``labels``.

    ``embeddings``: 2-D UMAP embeddings already computed (name -> (n, 2)); those missing are computed here.
    Returns ``{"rows": [{"representation", "space", "measure", "value"}, ...], "numbers": {rep: {space:
    {measure: value}}}, "embeddings": {rep: (n, 2)}, "dims": {rep: d}, "chance_accuracy", "settings"}``.
    """
    labels = np.asarray(labels).astype(np.int64)
    embeddings = dict(embeddings or {})
    numbers, dims = {}, {}
    for name, x in arrays.items():
        x = np.asarray(x, dtype=np.float32)
        if len(x) != len(labels):
            raise ValueError(f"{name!r} has {len(x)} rows for {len(labels)} labels")
        if name not in embeddings:
            embeddings[name] = umap_2d(x, seed)
        dims[name] = int(x.shape[1])
        numbers[name] = {"umap2d": measure(embeddings[name], labels, seed, k, folds, silhouette_sample_size),
                         "full": measure(x, labels, seed, k, folds, silhouette_sample_size)}
    return {"rows": list(tidy_rows(numbers)), "numbers": numbers, "embeddings": embeddings, "dims": dims,
            "chance_accuracy": chance_accuracy(labels), "settings": settings(k, folds, silhouette_sample_size, seed)}


def tidy_rows(numbers: dict) -> Iterable[dict]:
    for name, spaces in numbers.items():
        for space in SPACES:
            for m in MEASURES:
                yield {"representation": name, "space": space, "measure": m, "value": spaces[space][m]}


def as_dataframe(result: dict):
    """The tidy rows of ``separability(...)`` as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame(result["rows"], columns=["representation", "space", "measure", "value"])


def settings(k: int, folds: int, silhouette_sample_size: Optional[int], seed: int) -> dict:
    return {"knn": f"KNeighborsClassifier(n_neighbors={k}), uniform weights, Euclidean; mean accuracy (percent) "
                   f"over StratifiedKFold(n_splits={folds}, shuffle=True, random_state={seed})",
            "silhouette": f"silhouette_score (Euclidean) by label; on a random subset of {silhouette_sample_size} "
                          "samples when there are more",
            "umap": f"umap.UMAP(n_components=2, random_state={seed}), defaults otherwise (n_neighbors=15, "
                    "min_dist=0.1, Euclidean); seeded, hence single-threaded",
            "standardisation": "none (as the authors)"}


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("umap-learn", "scikit-learn", "numba", "pynndescent")}
