"""Running ``launch.py`` as a user does (a subprocess in the repository root) and skipping what needs the real
Fashion-MNIST files where they are absent."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.data import DatasetNotFoundError
from benchmark.data import fashion_mnist as fm

REPO = Path(__file__).resolve().parent.parent.parent  # tests/helpers/launching.py -> the repository root


def real_fmnist_or_skip():
    try:
        fm.locate(None, "/nonexistent", download=False)
    except DatasetNotFoundError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the real Fashion-MNIST files (make data): {e}")
        pytest.skip(f"real Fashion-MNIST not on this machine: {e}")


def launch(tmp_path, *overrides, env=None):
    paths = [f"paths.artifacts={tmp_path}/artifacts", f"paths.results={tmp_path}/results",
             f"paths.leaderboards={tmp_path}/leaderboards", f"hydra.run.dir={tmp_path}/runs/${{now:%H-%M-%S-%f}}",
             f"hydra.sweep.dir={tmp_path}/sweeps/${{now:%H-%M-%S-%f}}"]
    run_env = {k: v for k, v in os.environ.items() if k != "GANREP_DATA"}
    run_env.update(env or {})
    flags = [o for o in overrides if o.startswith("-")]  # e.g. -m: Hydra wants flags before overrides
    overrides = [o for o in overrides if not o.startswith("-")]
    result = subprocess.run([sys.executable, "launch.py", *flags, *paths, *overrides], cwd=REPO, capture_output=True,
                            text=True, env=run_env, timeout=600)
    result.output = result.stdout + result.stderr  # Hydra logs to stdout, tqdm and errors go to stderr
    return result
