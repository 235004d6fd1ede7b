"""Bad input gets one actionable block before any work, exit 2, no traceback and no record
(tests/fault_injection/catalogue.py lists the cases; measurements/bad_inputs.py runs them all as
subprocesses and times them).

Every config-only case is checked in-process through ``validate_config``; the file and data set cases
through ``run_experiment`` (they fail in ``build``, before pretraining); a few cases run ``launch.py``
as the user does, for the exit status, the console and the log file.
"""
from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir

from benchmark.errors import UserError
from benchmark.orchestration.pipeline import run_experiment
from benchmark.orchestration.plugin_configs import register_plugin_configs
from benchmark.orchestration.validation import ConfigError, validate_config
from benchmark.orchestration.identity import plain
from tests.fault_injection.catalogue import CASES, REPO, fill, run_case, workspace

CONFIG_CASES = [c for c in CASES if c.in_process]
IN_PROCESS_RUNS = [c for c in CASES if not c.in_process and c.kind in ("file", "dataset")]


def composed(overrides: list, tmp_path) -> dict:
    register_plugin_configs()
    paths = [f"paths.artifacts={tmp_path}/artifacts", f"paths.results={tmp_path}/results",
             f"paths.leaderboards={tmp_path}/leaderboards"]
    with initialize_config_dir(str(REPO / "launch"), version_base="1.3"):
        return plain(compose("config", overrides=["preset=smoke", *paths, *overrides]))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return workspace(tmp_path_factory.mktemp("fault_injection"))


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c.name for c in CONFIG_CASES])
def test_a_bad_config_value_is_named_before_any_work(case, ws, tmp_path):
    if case.extra.get("needs_no_cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    prepared = case.setup(ws) if case.setup else {"args": {}}
    with pytest.raises(ConfigError) as failure:
        validate_config(composed(fill(case.args, prepared["args"]), tmp_path))
    assert case.expect in str(failure.value)


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as failure:
        validate_config(composed(["pretrain.steps=-5", "method.embed_dim=abc", "seed=abc", "device=cuda:99",
                                  "augment.blur_kernel=4"], tmp_path))
    keys = [key for key, _ in failure.value.problems]
    assert keys == ["seed", "pretrain.steps", "augment.blur_kernel", "device", "method.embed_dim"]
    assert str(failure.value).startswith("invalid config (5 problems; nothing was run):\n  seed: 'abc'")


@pytest.mark.parametrize("preset", ["embedded", "smoke", "paper_cifar10", "paper_cifar100", "paper_stl10",
                                    "imagenet100", "imagenet"])
@pytest.mark.parametrize("method", ["sqsp", "squeeze", "simsiam", "vicreg", "distill", "latent_encoding",
                                    "disc_single", "disc_multi", "random_init", "raw_pixels"])
def test_every_shipped_config_is_valid(preset, method, tmp_path):
    """No false alarm: each preset with each built-in method passes (a pickle stands in where one is needed)."""
    pickle = tmp_path / "network-snapshot.pkl"
    pickle.write_bytes(b"")
    overrides = [f"preset={preset}", f"method={method}", "device=cpu"]
    if preset.startswith("paper"):
        overrides.append(f"generator.pickle={pickle}")
    validate_config(composed(overrides, tmp_path))


@pytest.mark.parametrize("case", IN_PROCESS_RUNS, ids=[c.name for c in IN_PROCESS_RUNS])
def test_a_bad_file_is_named_and_nothing_runs(case, ws, tmp_path, monkeypatch):
    prepared = case.setup(ws) if case.setup else {"args": {}, "env": {}}
    monkeypatch.setenv("GANREP_DATA", str(ws / "fmnist"))
    for key, value in prepared.get("env", {}).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UserError) as failure:
        run_experiment(composed(fill(case.args, prepared["args"]), tmp_path))
    assert case.expect in str(failure.value)
    assert not (tmp_path / "results").exists()  # no record, not even a partial one
    assert not (tmp_path / "artifacts" / "pretrain").exists()  # failed before any pretraining
    if prepared.get("marker") is not None:
        assert not prepared["marker"].exists(), "the file's code ran"


def by_name(name: str):
    return next(c for c in CASES if c.name == name)


@pytest.mark.parametrize("name", ["a word for the seed", "an unknown method", "two Hydra modes at once",
                                  "a pickle that would run code"])
def test_launch_exits_2_with_one_block_and_no_traceback(name, ws):
    outcome = run_case(by_name(name), ws)
    assert outcome.exit_code == 2, outcome.message
    assert outcome.matched and not outcome.traceback and outcome.records == 0 and not outcome.ran_payload


def test_the_traceback_goes_to_the_log_file_and_debug_prints_it(ws):
    case = by_name("a word for the seed")
    case_debug = type(case)(**{**case.__dict__, "name": case.name + " (debug)", "args": case.args + ["--debug"]})
    outcome = run_case(case_debug, ws)
    assert outcome.exit_code == 2 and outcome.traceback and outcome.records == 0
    logs = list((ws / "out").rglob("launch.log"))
    assert any("Traceback (most recent call last)" in p.read_text() and "seed: 'abc'" in p.read_text() for p in logs)
