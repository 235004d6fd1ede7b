"""A failed job of an in-process sweep (``launch.py -m``, cluster=none) is reported and does not stop the sweep.

Hydra's basic launcher keeps a job's exception unlogged until the whole sweep has run, and launch.py's
``sys.exit(2)`` for bad input used to end the sweep at once: a failed job could vanish without a trace.
These run real sweeps at preset=smoke on a Fashion-MNIST replica; the sweeps share one artifacts folder,
so the small GAN is trained once.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.helpers.launching import REPO
from tests.helpers.replicas import write_fashion_mnist_replica


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("multirun")
    return {"artifacts": root / "artifacts", "data": write_fashion_mnist_replica(root / "fmnist")}


def launch(shared, tmp_path, *args):
    paths = [f"paths.artifacts={shared['artifacts']}", f"paths.results={tmp_path}/results",
             f"paths.leaderboards={tmp_path}/leaderboards", f"hydra.sweep.dir={tmp_path}/sweep",
             f"hydra.run.dir={tmp_path}/run"]
    env = {**os.environ, "GANREP_DATA": str(shared["data"]), "OMP_NUM_THREADS": "1"}
    flags = [a for a in args if a.startswith("-")]  # Hydra wants -m before the overrides
    overrides = [a for a in args if not a.startswith("-")]
    result = subprocess.run([sys.executable, "launch.py", *flags, "preset=smoke", "anchors=false", "device=cpu",
                             *paths, *overrides], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    # tqdm redraws its bars with \r on stderr: split on it too, so that each message is a line of its own
    result.err_lines = [line for line in re.split(r"[\r\n]", result.stderr) if line.strip()]
    result.output = result.stdout + result.stderr
    return result


def error_line(result, start: str) -> str:
    lines = [line for line in result.err_lines if line.startswith(start)]
    assert len(lines) == 1, f"no single stderr line starting with {start!r}:\n{result.output[-4000:]}"
    return lines[0]


def records(tmp_path) -> list:
    return [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]


def test_a_bad_input_job_does_not_end_the_sweep(shared, tmp_path):
    """The first job's method option is invalid (found by the config validation): it is reported and the
    second job still runs; every failure being bad input, the sweep exits with 2."""
    result = launch(shared, tmp_path, "-m", "method=sqsp", "method.alpha=7,0.5")
    assert result.returncode == 2, result.output[-4000:]

    line = error_line(result, "error: job #0 ")
    assert ("(sqsp / linear_fmnist) failed: ConfigError: invalid config (1 problem; nothing was run): "
            "method.alpha: 7 is not valid; must be in (0, 1]") in line
    assert "method.alpha=7" in line and "method.alpha=0.5" not in line
    log_file = tmp_path / "sweep" / "0_sqsp_linear_fmnist" / "launch.log"
    assert f"traceback in {log_file}" in line
    log_text = log_file.read_text()
    assert "Traceback (most recent call last)" in log_text and "method.alpha: 7 is not valid" in log_text
    assert "Traceback" not in result.stdout  # the console gets the one line, the log file the traceback

    assert not any(line.startswith("error: job #1") for line in result.err_lines)
    assert [(r["method"], r["config"]["method"]["alpha"]) for r in records(tmp_path)] == [("sqsp", 0.5)]
    assert error_line(result, "error: 1 of 2 jobs of the sweep failed:").endswith(
        "failed: #0 (method.alpha=7: ConfigError); each one's traceback is in its log file")


def test_a_crashing_job_is_reported_as_it_fails(shared, tmp_path):
    """A TypeError deep in the linear evaluation (the task's own weight-decay grid, whose start is a list, passes
    the config validation, which checks only that the task's grid is a list) used to stay silent until the end
    of the sweep, and to vanish when a later job's bad input ended the sweep first."""
    result = launch(shared, tmp_path, "-m", "method=disc_single", "eval.wd_grid=null",
                    "task.wd_grid=[[-1.0],1.0,2],5,[-1.0,1.0,2]")
    assert result.returncode == 1, result.output[-4000:]  # one failure is not bad input

    crash = error_line(result, "error: job #0 ")
    assert "(disc_single / linear_fmnist) failed: TypeError:" in crash and "task.wd_grid=[[-1.0],1.0,2]" in crash
    log_text = (tmp_path / "sweep" / "0_disc_single_linear_fmnist" / "launch.log").read_text()
    assert "Traceback (most recent call last)" in log_text and "weight_decay_grid" in log_text

    bad_input = error_line(result, "error: job #1 ")
    assert "ConfigError" in bad_input and "task.wd_grid: 5 is not valid; must be a list" in bad_input
    assert "task.wd_grid=5" in bad_input
    assert "ConfigError" in (tmp_path / "sweep" / "1_disc_single_linear_fmnist" / "launch.log").read_text()

    assert [(r["method"], r["config"]["task"]["wd_grid"]) for r in records(tmp_path)] == [
        ("disc_single", [-1.0, 1.0, 2])]  # the third job ran
    summary = error_line(result, "error: 2 of 3 jobs of the sweep failed:")
    assert "#0 (task.wd_grid=[[-1.0],1.0,2]: TypeError), #1 (task.wd_grid=5: ConfigError)" in summary


def test_a_single_run_keeps_its_message_and_exit_code(shared, tmp_path):
    result = launch(shared, tmp_path, "method=sqsp", "method.alpha=7")
    assert result.returncode == 2, result.output[-4000:]
    assert "error: invalid config (1 problem; nothing was run):" in result.err_lines
    assert "  method.alpha: 7 is not valid; must be in (0, 1]" in result.err_lines
    assert "Traceback" not in result.output and "jobs of the sweep" not in result.output
