"""Analyses of a generator that pretrain nothing (``analysis.name``), run by launch.py in place of the pipeline.

- ``umap`` (experiment=umap, the poster's Fig. 2): the generator's three representation types (discriminator
  features, latents, pooled generator features) of ``analysis.samples`` samples, each embedded in 2-D by UMAP and
  coloured by class, with k-NN accuracy and silhouette in the 2-D and the full space
  (benchmark/analysis/umap_figures.py). Written to ``<paths.leaderboards>/umap_<preset>/``, with ``run.json``
  saying exactly what was run.

Labels (``analysis.labels``): ``generator``: a conditional generator's own classes; ``reference_classifier``:
the classes a classifier the suite trains on the data set gives each sample (benchmark/quality/
reference_classifier.py); ``checkpoint``: the classes a WRN-28-2 CIFAR-10 classifier read from the file
``analysis.classifier_checkpoint`` gives each sample (benchmark/analysis/wrn_classifier.py), which runs Fig. 2
with the authors' own labeller when that file is theirs; ``auto``: ``generator`` when the generator is
conditional, else ``reference_classifier`` (never ``checkpoint``, which needs a file).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from benchmark.artifacts import atomic_write_text
from benchmark.errors import UserError

log = logging.getLogger(__name__)

ANALYSES = ("umap",)
LABEL_SOURCES = ("auto", "generator", "reference_classifier", "checkpoint")


def output_dir(cfg: dict) -> Path:
    return Path(cfg["paths"]["leaderboards"]) / f"{cfg['analysis']['name']}_{cfg['preset']}"


def _is_conditional(generator, device) -> bool:
    with torch.no_grad():
        return generator.sample(2, rng=torch.Generator(device).manual_seed(0)).labels is not None


def labeler_of(cfg: dict, generator, device):
    """(labeler for run_umap_analysis, its description, class names or None)."""
    source = cfg["analysis"]["labels"]
    if source == "auto":
        source = "generator" if _is_conditional(generator, device) else "reference_classifier"
    if source == "generator":
        if not _is_conditional(generator, device):
            raise UserError(f"analysis.labels=generator: generator {cfg['generator']['name']!r} is unconditional "
                            "and gives no labels; use analysis.labels=reference_classifier (or auto)")
        return None, f"the conditional generator's own classes ({cfg['generator']['name']})", None
    if source == "checkpoint":
        return checkpoint_labeler(cfg)
    from benchmark.quality.reference_classifier import reference_classifier

    clf = reference_classifier(cfg["data"], cfg["paths"]["artifacts"], device, cfg["quality"].get("classifier"))
    description = (f"the class the suite's {cfg['data']['name']} classifier gives each sample (test top-1 "
                   f"{clf.test_accuracy:.2f}%; {clf.artifact_dir})")
    return clf.predict, description, list(getattr(clf, "classes", None) or []) or None


def checkpoint_labeler(cfg: dict):
    """analysis.labels=checkpoint: the WRN-28-2 CIFAR-10 classifier of ``analysis.classifier_checkpoint``."""
    path = cfg["analysis"].get("classifier_checkpoint")
    if not path:
        raise UserError("analysis.classifier_checkpoint is null, but analysis.labels=checkpoint labels samples with "
                        "the WRN-28-2 CIFAR-10 classifier it names: analysis.classifier_checkpoint=<file> (e.g. the "
                        "authors' checkpoint), or analysis.labels=auto")
    from benchmark.analysis.wrn_classifier import load_wrn_checkpoint

    data = (cfg.get("data") or {}).get("name")
    if data and data.split("_")[0] != "cifar10":
        log.warning("analysis.labels=checkpoint labels %s samples with CIFAR-10 classes", data)
    clf = load_wrn_checkpoint(path)
    return clf.predict, clf.description, clf.classes


def run_analysis(cfg: dict) -> Path:
    """Run ``cfg["analysis"]`` and return its markdown."""
    from benchmark.analysis.umap_figures import run_umap_analysis
    from benchmark.generators import build_generator
    from benchmark.orchestration.resources import resolve_device
    from benchmark.reporting.records import git_commit, library_versions

    analysis = cfg["analysis"]
    device = resolve_device(cfg["device"])
    t = time.time()
    generator = build_generator(cfg["generator"], cfg["data"], cfg["paths"]["artifacts"], device)
    labeler, description, class_names = labeler_of(cfg, generator, device)
    out = output_dir(cfg)
    result = run_umap_analysis(generator, labeler, analysis["samples"], out, seed=cfg["seed"],
                               batch_size=analysis["batch_size"], device=device, class_names=class_names,
                               labeler_description=description)
    run = {"analysis": analysis["name"], "config": cfg, "git_commit": git_commit(Path(__file__).resolve().parents[2]),
           "versions": library_versions(), "seconds": round(time.time() - t, 1),
           "generator_provenance": getattr(generator, "provenance", None) or None,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_text(out / "run.json", json.dumps(run, indent=2, sort_keys=True, default=str) + "\n")
    log.info("umap of %s: %s", cfg["generator"]["name"], json.dumps(result.get("numbers", {}))[:500])
    print(f"[ganrep] {analysis['name']} of {cfg['generator']['name']}: {out / 'umap.md'}")
    return out / "umap.md"
