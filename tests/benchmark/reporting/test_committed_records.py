"""The committed results stay what they say: every record's hashes recompute from its stored config, and
every committed leaderboard re-renders byte for byte from the committed records (they are generated,
never edited by hand)."""
from __future__ import annotations

import json

import pytest

from benchmark.artifacts import config_hash
from benchmark.orchestration import identity
from benchmark.registry import METHODS
from benchmark.reporting.leaderboards import render
from benchmark.reporting.records import BOARDS_DIR, record_path
from tests.helpers.launching import REPO

RESULTS, LEADERBOARDS = REPO / "results", REPO / "leaderboards"
RECORDS = sorted(p for p in RESULTS.rglob("*.json") if BOARDS_DIR not in p.parts)


def test_there_are_committed_records():
    assert len(RECORDS) > 100


@pytest.mark.parametrize("path", RECORDS, ids=[str(p.relative_to(RESULTS)) for p in RECORDS])
def test_a_committed_record_hashes_to_what_it_says(path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # a record of one process (none was written by several)
    record = json.loads(path.read_text())
    cfg = record["config"]
    key = identity.pretraining_key(cfg, METHODS.get(record["method"]))
    assert config_hash(key) == record["pretrain_hash"]
    assert identity.run_hash(cfg) == record["run_hash"]
    assert record_path(RESULTS, record) == path


def leaderboard_of(markdown) -> tuple:
    """Which leaderboard a committed markdown file is, as ``render`` names it."""
    name = markdown.stem
    presets = [p.name for p in RESULTS.iterdir() if p.is_dir()]
    if name in presets:
        return ("preset", RESULTS, None, name)
    for preset in presets:
        if name.endswith(f"_{preset}") and (RESULTS / preset / BOARDS_DIR / name[: -len(preset) - 1]).is_dir():
            return ("table", RESULTS, None, preset, name[: -len(preset) - 1])
    return ("suite", RESULTS, None, name)


COMMITTED = sorted(LEADERBOARDS.glob("*.md"))


@pytest.mark.parametrize("markdown", COMMITTED, ids=[p.name for p in COMMITTED])
def test_a_committed_leaderboard_rerenders_byte_for_byte(markdown, tmp_path):
    kind, results, _, *names = leaderboard_of(markdown)
    written = render((kind, results, tmp_path, *names))
    assert written.name == markdown.name
    assert written.read_bytes() == markdown.read_bytes(), f"{markdown.name} differs from what its records render"
    assert markdown.with_suffix(".png").exists()
