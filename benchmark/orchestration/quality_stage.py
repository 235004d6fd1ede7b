"""How good the run's generator is (``quality.measure``), measured once per generator and written into every
record that learnt from it (``generator_quality``), so a board can set the accuracy a generator taught against
that generator's quality (experiment=fid_vs_acc, experiment=generators).

The measurement is cached under ``artifacts/quality/<measure>-<hash>/quality.json``, keyed by the generator's
config (where its file lives aside: its content is what counts, and the record keeps the file's provenance),
the real data's identity and the measure's settings. It is not part of a run's identity: a record with and one
without it are the same run, and ``skip_existing`` adds it to a record that lacks it (record_of).

- ``fid``: the Fréchet Inception distance (torch-fidelity's Inception, the TF-FID that StyleGAN2-ADA and the
  poster report), ``samples`` generated images against ``real_samples`` training images (paper: 50k / all);
- ``fd_classifier``: the Fréchet distance in the features of a classifier the suite trains on the data set
  (benchmark/quality/reference_classifier.py): the offline stand-in on the embedded benchmark. Not an FID, and
  every record and board names it for what it is.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Optional

from benchmark.artifacts import artifact_dir, atomic_write_text, exclusive
from benchmark.orchestration.identity import DATA_LOCATION_KEYS
from benchmark.reporting.cells import GENERATOR_LOCATION_KEYS

log = logging.getLogger(__name__)

QUALITY_MEASURES = ("fid", "fd_classifier")


def requested(cfg: dict) -> Optional[str]:
    """The measure this config asks for, or None."""
    return (cfg.get("quality") or {}).get("measure")


def quality_key(cfg: dict, provenance: Optional[dict] = None) -> dict:
    """What the measurement depends on. Where a generator's file lives is left out, and what it holds is named by
    its SHA-256: the config's pinned ``sha256``, else the one of the file read (``provenance``), so two pickles
    under one config (two snapshots, the conditional and the unconditional StyleGAN2-ADA) are measured apart."""
    quality = cfg["quality"]
    generator = {k: v for k, v in cfg["generator"].items() if k not in GENERATOR_LOCATION_KEYS}
    if not generator.get("sha256") and (provenance or {}).get("sha256"):
        generator["sha256"] = provenance["sha256"]
    return {"measure": quality["measure"], "samples": quality["samples"], "real_samples": quality["real_samples"],
            "generator": generator,
            "data": {k: v for k, v in cfg["data"].items() if k not in DATA_LOCATION_KEYS},
            # another Inception file is another feature network
            "inception_weights": Path(quality["inception_weights"]).name if quality.get("inception_weights") else None,
            # another training of the classifier is another feature network
            "classifier": quality.get("classifier") or {} if quality["measure"] == "fd_classifier" else None}


def matches(record_quality: Optional[dict], cfg: dict, provenance: Optional[dict] = None) -> bool:
    """Whether a record's ``generator_quality`` is the measurement this config asks for (``provenance``: the
    record's ``generator_provenance``)."""
    if not record_quality:
        return False
    return record_quality.get("key") == quality_key(cfg, provenance)


def generator_quality(cfg: dict, generator, device) -> dict:
    """The measurement ``quality.measure`` of ``generator`` (cached), as it goes into a record."""
    key = quality_key(cfg, getattr(generator, "provenance", None))
    out_dir = artifact_dir(cfg["paths"]["artifacts"], "quality", key["measure"], key)
    path = out_dir / "quality.json"
    with exclusive(out_dir):  # a sweep's jobs over one generator measure it once
        if path.exists():
            log.info("reusing the %s of the generator: %s", key["measure"], path)
            return json.loads(path.read_text())
        t = time.time()
        result = _measure(cfg, generator, device)
        result.update(measure=key["measure"], key=key, seconds=round(time.time() - t, 1),
                      generator_provenance=getattr(generator, "provenance", None) or None,
                      artifact=str(path))
        atomic_write_text(path, json.dumps(result, indent=2, sort_keys=True) + "\n")
    log.info("%s of the generator: %.4f (%s)", key["measure"], result["value"], result["feature"])
    return result


def _measure(cfg: dict, generator, device) -> dict:
    from benchmark.quality.frechet import frechet_distance, real_image_batches

    quality = cfg["quality"]
    if quality["measure"] == "fid":
        from benchmark.quality.inception import inception_feature

        feature = inception_feature(quality.get("inception_weights"))
    else:
        from benchmark.quality.reference_classifier import reference_classifier

        feature = reference_classifier(cfg["data"], cfg["paths"]["artifacts"], device,
                                       quality.get("classifier")).frechet_feature()
    real_samples = quality["real_samples"]
    real = real_image_batches(cfg["data"], quality["batch_size"], "train", limit=real_samples)
    return frechet_distance(generator, real, feature.to(device), quality["samples"], quality["batch_size"], device,
                            seed=0, real_samples=math.inf if real_samples is None else real_samples)
