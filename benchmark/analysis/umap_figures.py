"""The poster's Fig. 2, with its numbers: UMAP views of a GAN's three representations, coloured by class.

Yang et al. (NeurIPS 2022, Fig. 2) embed the discriminator features, the latents and the generator features of
50,000 StyleGAN2-ADA samples with UMAP (McInnes et al., 2018) and colour each point by the CIFAR-10 class a
classifier gives its image: the generator features form class clusters, the others much less. Here the same
views come with the numbers of ``separability`` (k-NN accuracy and silhouette, in 2-D and in the full space),
for any suite generator and any labeler. Written to ``out_dir``:

- ``umap_<representation>.png``: one view per representation, the numbers in its title;
- ``umap.png``: the views side by side (discriminator, latent, generator: the poster's order);
- ``umap_numbers.json``: the numbers, n, seed, batch size, the labels' source and class counts, the settings
  and the versions of umap-learn and scikit-learn;
- ``umap_embeddings.npz``: the 2-D embeddings and the labels (to redraw without running UMAP again);
- ``umap.md``: a table of the numbers, the figures, how the labels were made.
"""
from __future__ import annotations

import json
import logging
import math
import textwrap
import time
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from benchmark.analysis.representations import REPRESENTATIONS, generator_representations
from benchmark.analysis.separability import (
    CV_FOLDS,
    KNN_K,
    SILHOUETTE_SAMPLE_SIZE,
    library_versions,
    separability,
)
from benchmark.artifacts import atomic_write, atomic_write_text, save_figure

log = logging.getLogger(__name__)

TITLES = {"discriminator": "Discriminator features", "latent": "Latent w", "generator": "Generator features"}


def describe_labeler(labeler) -> str:
    if labeler is None:
        return "the generator's own class labels (conditional sampling)"
    owner = getattr(labeler, "__self__", None)  # a bound method such as clf.predict: name its object
    target = owner if owner is not None else labeler
    return getattr(target, "__qualname__", None) or type(target).__qualname__


def _fmt(value: float, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _percent(value: float) -> str:
    text = _fmt(value, ".1f")
    return text if text == "n/a" else text + "%"


def numbers_line(numbers: dict, sep: str = ", ") -> str:
    """ "k-NN acc 2-D a / full b, silhouette 2-D c / full d" for one representation's numbers."""
    flat, full = numbers["umap2d"], numbers["full"]
    knn = f"k-NN acc 2-D {_percent(flat['knn_accuracy'])} / full {_percent(full['knn_accuracy'])}"
    sil = f"silhouette 2-D {_fmt(flat['silhouette'], '.2f')} / full {_fmt(full['silhouette'], '.2f')}"
    return knn + sep + sil


def _marker(n: int) -> tuple[float, float]:
    """(size in pt^2, alpha): small, translucent points as n grows, so clusters read as densities."""
    if n <= 500:
        return 12.0, 0.8
    if n <= 2_000:
        return 5.0, 0.6
    if n <= 10_000:
        return 2.0, 0.5
    return 1.0, 0.3


def _palette(num_classes: int) -> np.ndarray:
    import matplotlib

    name = "tab10" if num_classes <= 10 else "tab20" if num_classes <= 20 else "hsv"
    cmap = matplotlib.colormaps[name]
    if name == "hsv":  # evenly spaced hues, as the authors' seaborn "hls" palette
        return cmap(np.linspace(0, 1, num_classes, endpoint=False))
    return cmap(np.arange(num_classes))


def _legend_handles(labels: np.ndarray, class_names: Sequence[str], colors: np.ndarray):
    from matplotlib.lines import Line2D

    counts = np.bincount(labels, minlength=len(class_names))
    # opaque markers of a fixed size: the scatter's own may be 1 pt and translucent
    return [Line2D([], [], linestyle="", marker="o", markersize=6, color=colors[c],
                   label=f"{class_names[c]} ({counts[c]})") for c in range(len(class_names)) if counts[c]]


LEGEND_ROWS = 20


def _legend_columns(labels: np.ndarray) -> int:
    return max(1, math.ceil(len(np.unique(labels)) / LEGEND_ROWS))


def _legend(fig, labels: np.ndarray, class_names: Sequence[str], colors: np.ndarray) -> None:
    handles = _legend_handles(labels, class_names, colors)
    # beside the axes (constrained layout makes room), vertically centred so that it stays clear of the figure
    # title, in columns of at most LEGEND_ROWS entries so that 100 classes still fit the figure's height
    fig.legend(handles=handles, loc="outside right center", ncols=_legend_columns(labels), fontsize=8,
               title="class (count)", title_fontsize=8, frameon=False)


def _scatter(ax, xy: np.ndarray, labels: np.ndarray, colors: np.ndarray, seed: int) -> None:
    # one random drawing order for all classes, so that no class hides the others by being drawn last
    order = np.random.default_rng(seed).permutation(len(xy))
    size, alpha = _marker(len(xy))
    ax.scatter(xy[order, 0], xy[order, 1], c=colors[labels[order]], s=size, alpha=alpha, linewidths=0, rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])  # UMAP's axes have no units
    ax.set_aspect("equal", adjustable="datalim")


def plot_one(name: str, xy: np.ndarray, labels: np.ndarray, numbers: dict, dim: int, class_names: Sequence[str],
             seed: int, subtitle: str = ""):
    import matplotlib.pyplot as plt

    colors = _palette(len(class_names))
    legend_width = 1.6 * _legend_columns(labels)  # inches: the axes keep their size however many classes
    fig, ax = plt.subplots(figsize=(4.8 + legend_width, 5.4), layout="constrained")
    _scatter(ax, xy, labels, colors, seed)
    # one line per measure: a single line is wider than the axes and would be clipped at the figure's edge
    ax.set_title(f"{TITLES.get(name, name)} (d={dim}), UMAP 2-D\n{numbers_line(numbers, sep=chr(10))}", fontsize=10)
    _legend(fig, labels, class_names, colors)
    if subtitle:  # wrapped to the figure's width: about 14 characters an inch at 8 pt
        fig.suptitle(textwrap.fill(subtitle, int(14 * fig.get_figwidth())), fontsize=8)
    return fig


def plot_panels(embeddings: dict, labels: np.ndarray, numbers: dict, dims: dict, class_names: Sequence[str],
                seed: int, title: str):
    import matplotlib.pyplot as plt

    names = [k for k in REPRESENTATIONS if k in embeddings]
    colors = _palette(len(class_names))
    legend_width = 1.6 * _legend_columns(labels)
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names) + legend_width, 5.0), layout="constrained",
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        _scatter(ax, embeddings[name], labels, colors, seed)
        ax.set_title(f"{TITLES.get(name, name)} (d={dims[name]})\n{numbers_line(numbers[name], sep=chr(10))}",
                     fontsize=9)
    _legend(fig, labels, class_names, colors)
    fig.suptitle(textwrap.fill(title, int(11 * fig.get_figwidth())), fontsize=10)
    return fig


def _json_safe(value):
    """NaN and infinities as null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _markdown(record: dict, files: dict) -> str:
    rows = ["| representation | dim | k-NN acc 2-D (%) | k-NN acc full (%) | balanced k-NN 2-D (%) "
            "| balanced k-NN full (%) | silhouette 2-D | silhouette full |",
            "|:--|--:|--:|--:|--:|--:|--:|--:|"]
    for name, spaces in record["numbers"].items():
        flat, full = spaces["umap2d"], spaces["full"]
        rows.append(f"| {TITLES.get(name, name)} | {record['dims'][name]} | {_fmt(flat['knn_accuracy'], '.1f')} "
                    f"| {_fmt(full['knn_accuracy'], '.1f')} | {_fmt(flat.get('knn_balanced_accuracy'), '.1f')} "
                    f"| {_fmt(full.get('knn_balanced_accuracy'), '.1f')} | {_fmt(flat['silhouette'], '.3f')} "
                    f"| {_fmt(full['silhouette'], '.3f')} |")
    lab, gen = record["labels"], record["generator"]
    source = f" (`{gen['artifact_dir']}`)" if gen.get("artifact_dir") else ""
    counts = ", ".join(f"{name} {count}" for name, count in zip(lab["class_names"], lab["counts"]))
    lines = ["# UMAP of a GAN's representations (the poster's Fig. 2)", "",
             f"{record['n']} samples of `{gen['class']}`{source}, seed {record['seed']}, "
             f"batch size {record['batch_size']}.", "",
             *rows, "",
             f"Chance level of k-NN accuracy (the majority class's share): {_fmt(lab['chance_accuracy'], '.1f')}%; of "
             f"balanced k-NN accuracy: {100 / max(1, sum(c > 0 for c in lab['counts'])):.1f}% (one over the classes "
             "present).",
             "", "## Labels", "",
             f"Each sample's colour and label: {record['labeler']}. Classes and counts: {counts}.", "",
             "## Settings", ""]
    lines += [f"- {key}: {value}" for key, value in record["settings"].items()]
    lines += [f"- {name}: {text}" for name, text in record["layout"].items()]
    lines += ["- versions: " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()), "", "## Figures", "",
              f"![all representations]({files['combined']})", ""]
    for name in record["numbers"]:
        lines += [f"![{name}]({files[name]})", ""]
    return "\n".join(lines) + "\n"


def run_umap_analysis(generator, labeler, n: int, out_dir: Union[str, Path], seed: int = 0, batch_size: int = 256,
                      device: Union[str, torch.device] = "cpu", class_names: Optional[Sequence[str]] = None,
                      labeler_description: Optional[str] = None, knn_k: int = KNN_K, folds: int = CV_FOLDS,
                      silhouette_sample_size: Optional[int] = SILHOUETTE_SAMPLE_SIZE, progress: bool = True) -> dict:
    """Representations of ``n`` samples, their 2-D UMAP embeddings and separability numbers, written to
    ``out_dir`` (module doc). ``labeler``: as ``generator_representations`` (None = a conditional generator's
    own labels; a callable images in [-1, 1] -> class ids; or an object with ``predict``). Returns the record
    written to ``umap_numbers.json``, plus ``"embeddings"`` (name -> (n, 2)) and ``"labels"["values"]``."""
    if n < 4 * knn_k:
        raise ValueError(f"n={n} is too few samples for {folds}-fold {knn_k}-NN accuracy; take n >= {4 * knn_k}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    reps = generator_representations(generator, n, batch_size, device, seed, labeler=labeler, keep_images=False,
                                     progress=progress)
    t1 = time.perf_counter()
    labels = reps.labels
    num_classes = int(labels.max()) + 1
    if class_names is None:
        class_names = [f"class {c}" for c in range(num_classes)]
    elif len(class_names) < num_classes:
        raise ValueError(f"{len(class_names)} class names for labels up to {num_classes - 1}")
    class_names = [str(c) for c in class_names]
    log.info("UMAP and separability of %s on %d samples", ", ".join(reps.arrays), n)
    result = separability(reps.arrays, labels, seed, k=knn_k, folds=folds,
                          silhouette_sample_size=silhouette_sample_size)
    t2 = time.perf_counter()
    description = labeler_description or describe_labeler(labeler)
    gen = {"class": type(generator).__name__, "name": getattr(generator, "name", None),
           "artifact_dir": getattr(generator, "artifact_dir", None),
           "resolution": getattr(generator, "resolution", None),
           "image_channels": getattr(generator, "image_channels", None),
           "has_discriminator": "discriminator" in reps.arrays}
    files = {name: f"umap_{name}.png" for name in result["numbers"]}
    files.update(combined="umap.png", numbers="umap_numbers.json", embeddings="umap_embeddings.npz",
                 markdown="umap.md")
    record = {"figure": "Squeeze-and-Span poster, Fig. 2 (Yang et al., NeurIPS 2022)", "n": n, "seed": seed,
              "batch_size": batch_size, "generator": gen, "labeler": description,
              "labels": {"num_classes": len(class_names), "class_names": class_names,
                         "counts": np.bincount(labels, minlength=len(class_names)).tolist(),
                         "chance_accuracy": result["chance_accuracy"]},
              "dims": result["dims"], "layout": reps.layout, "numbers": result["numbers"], "rows": result["rows"],
              "settings": result["settings"], "versions": library_versions(),
              "seconds": {"representations": round(t1 - t0, 1), "umap_and_measures": round(t2 - t1, 1)},
              "files": files}
    subtitle = f"n={n} samples of {gen['class']}, seed {seed}; colour = label from {description}"
    for name, xy in result["embeddings"].items():
        fig = plot_one(name, xy, labels, result["numbers"][name], result["dims"][name], class_names, seed, subtitle)
        save_figure(fig, out_dir / files[name])
    save_figure(plot_panels(result["embeddings"], labels, result["numbers"], result["dims"], class_names, seed,
                            subtitle), out_dir / files["combined"])
    atomic_write(out_dir / files["embeddings"], lambda f: np.savez(f, labels=labels, **result["embeddings"]))
    atomic_write_text(out_dir / files["numbers"], json.dumps(_json_safe(record), indent=2) + "\n")
    atomic_write_text(out_dir / files["markdown"], _markdown(record, files))
    log.info("UMAP analysis written to %s (%.0f s)", out_dir, time.perf_counter() - t0)
    return {**record, "embeddings": result["embeddings"], "labels": {**record["labels"], "values": labels}}
