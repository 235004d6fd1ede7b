"""The pipeline cut into the stages of a cluster job graph (cluster.py); each takes a resolved config (a dict)."""
from __future__ import annotations

import json
import logging

from benchmark.verified_artifacts import DamagedArtifactError, load_verified
from benchmark.orchestration import pipeline
from benchmark.orchestration.identity import expected_record_path, plain, pretrained_weights
from benchmark.reporting.leaderboards import leaderboards_of, render

log = logging.getLogger(__name__)


def weights_intact(weights) -> bool:
    """Whether the pretrained weights are there, match their sha256 sidecar and load (a legacy file without
    one is adopted, as pipeline.pretrain_or_load does)."""
    if not weights.exists():
        return False
    try:
        load_verified(weights)
    except DamagedArtifactError:
        return False
    return True


def pretrain_only(cfg: dict) -> str:
    """Pretrain (or find cached) the backbone of this config, without evaluating; returns the weights' path."""
    cfg = plain(cfg)
    weights = pretrained_weights(cfg)
    if weights is None or weights_intact(weights):
        return str(weights)
    timings = {}  # missing, or damaged: then set aside and trained again there
    pipeline.pretrain_or_load(cfg, pipeline.build(cfg, timings, check_task=False), timings)
    return str(weights)


def evaluate_only(cfg: dict) -> dict:
    """Evaluate this config on its task and write its record (its pretraining is expected to be cached);
    anchors and leaderboards are left to their own jobs."""
    cfg = plain(cfg)
    weights = pretrained_weights(cfg)
    if weights is not None and not weights.exists() and not expected_record_path(cfg).exists():
        log.warning("no pretrained weights at %s: this evaluation job pretrains first", weights)
    record = pipeline.record_of(cfg)
    if record is None:
        return {"process": "data-parallel helper: pretraining only"}
    return {"method": record["method"], "task": record["task"], "headline": record["headline"],
            "metric": record["metrics"][record["headline"]], "record": str(expected_record_path(cfg))}


def refresh_all_leaderboards(cfgs: list) -> list:
    """Re-render the leaderboards of every config whose record exists (a failed evaluation leaves none),
    each once however many records it shows."""
    boards, missing = {}, []
    for cfg in map(plain, cfgs):
        path = expected_record_path(cfg)
        if not path.exists():
            missing.append(f"{cfg['method']['name']}/{cfg['task']['name']} seed {cfg['seed']}")
            continue
        boards.update(dict.fromkeys(leaderboards_of(cfg, json.loads(path.read_text()))))
    if missing:
        log.warning("no record (the evaluation failed or was cancelled) for: %s", ", ".join(missing))
    written = sorted({str(render(board)) for board in boards})
    print(f"[ganrep] leaderboards written: {', '.join(written)}; missing records: {len(missing)}")
    return written
