"""run_umap_analysis end to end on a few samples: every file written, every number recorded."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from benchmark.analysis.separability import MEASURES, SPACES
from benchmark.analysis.umap_figures import numbers_line, run_umap_analysis
from tests.helpers.analysis import cache_umap_jit
from tests.helpers.analysis import ConditionalPerLayer, brightness_labels, small_gan

pytest.importorskip("umap")
cache_umap_jit()

TYPES = ("discriminator", "latent", "generator")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("umap")
    record = run_umap_analysis(small_gan(), brightness_labels, n=60, out_dir=out, seed=0, batch_size=32,
                               class_names=["dark", "bright"], labeler_description="brightness above the median",
                               progress=False)
    return out, record


def test_files_exist_and_pngs_are_images(run):
    out, _ = run
    for name in [f"umap_{t}.png" for t in TYPES] + ["umap.png"]:
        with Image.open(out / name) as image:
            image.verify()
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) >= 300
    with np.load(out / "umap_embeddings.npz") as saved:
        assert saved["labels"].shape == (60,) and all(saved[t].shape == (60, 2) for t in TYPES)


def test_json_has_every_type_space_and_measure(run):
    out, record = run
    saved = json.loads((out / "umap_numbers.json").read_text())
    for t in TYPES:
        for space in SPACES:
            for measure in MEASURES:
                assert np.isfinite(saved["numbers"][t][space][measure])
    assert len(saved["rows"]) == len(TYPES) * len(SPACES) * len(MEASURES)
    assert saved["n"] == 60 and saved["seed"] == 0 and saved["batch_size"] == 32
    assert saved["labeler"] == "brightness above the median"
    assert saved["labels"]["class_names"] == ["dark", "bright"] and sum(saved["labels"]["counts"]) == 60
    assert {"umap-learn", "scikit-learn"} <= set(saved["versions"])
    assert saved["numbers"] == record["numbers"]
    assert record["embeddings"]["generator"].shape == (60, 2)


def test_markdown_tables_the_numbers_and_embeds_the_figures(run):
    out, record = run
    text = (out / "umap.md").read_text()
    assert "| Generator features |" in text and "brightness above the median" in text
    assert all(f"](umap_{t}.png)" in text for t in TYPES) and "](umap.png)" in text
    assert "k-NN acc 2-D" in numbers_line(record["numbers"]["latent"])


def test_conditional_generator_without_discriminator(tmp_path):
    record = run_umap_analysis(ConditionalPerLayer(), None, n=40, out_dir=tmp_path, seed=0, batch_size=40,
                               progress=False)
    assert set(record["numbers"]) == {"latent", "generator"}
    assert not (tmp_path / "umap_discriminator.png").exists() and (tmp_path / "umap.png").exists()
    assert record["labeler"].startswith("the generator's own")
    assert record["labels"]["class_names"][0] == "class 0"


def test_too_few_samples_are_refused(tmp_path):
    with pytest.raises(ValueError, match="too few"):
        run_umap_analysis(small_gan(), brightness_labels, n=10, out_dir=tmp_path, progress=False)
