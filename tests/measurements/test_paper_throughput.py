"""measurements/paper_throughput.py and measurements/gpu_check.py at tiny sizes on the CPU: every column of
the printed tables is there with finite numbers, the JSON is written, and every check of the GPU script passes
its CPU dry run. No timing is asserted (these are smoke tests of the scripts, not measurements)."""
from __future__ import annotations

import importlib.util
import json
import math
import sys

import pytest
import torch

from tests.helpers.launching import REPO

TEXT_COLUMNS = {"recipe", "device", "generator", "schedule"}


def load(name: str):
    """A measurements/ script as a module (measurements/ is no package)."""
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(REPO / "measurements"))
    spec = importlib.util.spec_from_file_location(name, REPO / "measurements" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def markdown_tables(text: str) -> list[list[dict]]:
    """Every markdown table in ``text`` as a list of {header: cell} rows."""
    tables, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            headers = [c.strip() for c in lines[i].strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("| "):
                rows.append(dict(zip(headers, (c.strip() for c in lines[i].strip("|").split("|")))))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip("%"))


def test_paper_throughput_prints_every_column_with_finite_numbers(tmp_path, capsys):
    pt = load("paper_throughput")
    out = tmp_path / "throughput.json"
    rows = pt.main(["--recipe", "cifar10,stl10", "--tiny", "--batch", "8", "--steps", "1", "--warmup", "1",
                    "--device", "cpu", "--sync-ablation", "--quiet", "--generator-precision", "bfloat16",
                    "--out", str(out)])
    printed = capsys.readouterr().out
    tables = markdown_tables(printed)
    assert [list(t[0]) for t in tables] == [pt.THROUGHPUT_COLUMNS, pt.SPLIT_COLUMNS, pt.PROJECTION_COLUMNS]
    for table in tables:
        assert [r["recipe"] for r in table] == ["cifar10", "stl10"]
        for row in table:
            for column, cell in row.items():
                if column not in TEXT_COLUMNS:
                    assert math.isfinite(number(cell)), (column, cell)
    assert "bfloat16" in tables[0][0]["generator"]
    assert "x the goal of 30 min" in printed and "989" in printed  # the H100/H200 spec figure, named as such
    recorded = json.loads(out.read_text())["rows"]
    assert [r["recipe"] for r in recorded] == ["cifar10", "stl10"] == [r["recipe"] for r in rows]
    for r in recorded:
        assert r["preset"] == f"paper_{r['recipe']}" and r["batch"] == 8 and r["synthetic"] == r["real"] == 4
        assert r["generator_precision_effective"] == "bfloat16"
        assert set(r["phase_ms"]) == set(pt.PHASES)
        assert r["flop_scale_to_512"] == 64
        assert r["gflop_step_batch_512"] == pytest.approx(64 * r["gflop_step_measured_batch"])
        assert r["gflop_generator_measured_batch"] > 0 and r["gflop_student_measured_batch"] > 0
        schedule = {"cifar10": "77600 steps (800 epochs x 97", "stl10": "41000 steps (200 epochs x 205"}
        assert r["schedule"].startswith(schedule[r["recipe"]])


def test_the_flop_count_is_linear_in_the_batch():
    """What scaling the counted FLOPs to the paper's batch of 512 relies on."""
    pt = load("paper_throughput")
    recipe = pt.make_recipe("cifar10", tiny=True)
    counts = []
    for batch in (4, 8):
        args = pt.parse_args(["--tiny", "--batch", str(batch), "--device", "cpu"])
        counts.append(pt.PaperStep(recipe, args, torch.device("cpu")).count_flops())
    assert counts[1] == (2 * counts[0][0], 2 * counts[0][1])


def test_gpu_check_passes_its_cpu_dry_run(tmp_path, capsys, monkeypatch):
    gc = load("gpu_check")
    monkeypatch.setenv("OUT", str(tmp_path))
    assert gc.main(["--cpu-dry-run"]) == 0
    printed = capsys.readouterr().out
    for name, _ in gc.CHECKS:
        assert f"PASS {name} (" in printed
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["cpu_dry_run"] and all(c["passed"] for c in report["checks"])
    assert [c["check"] for c in report["checks"]] == [name for name, _ in gc.CHECKS]
    precision = report["checks"][1]["numbers"]
    assert precision["float16"]["effective"] == "float32"  # off CUDA: the float32 fallback, bitwise
    assert all(d["max_abs_diff"] == 0 for d in precision["float16"]["diffs"].values())
    assert max(d["units_of_u"] for d in precision["bfloat16"]["diffs"].values()) <= gc.MAX_ERROR_UNITS


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given when CUDA is absent")
def test_gpu_check_without_cuda_says_so(capsys):
    gc = load("gpu_check")
    assert gc.main([]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
