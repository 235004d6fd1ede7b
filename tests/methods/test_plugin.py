"""The README's "Add your own method" example, installed as a separate package (its own entry-point
metadata, no yaml, no edit to this repo), runs through launch.py."""
from __future__ import annotations

import json
import re

from tests.helpers.launching import REPO, launch, real_fmnist_or_skip

README = REPO / "README.md"


def readme_plugin() -> tuple[str, str]:
    """(the Python example, its entry-point line) from the README's plugin guide."""
    guide = README.read_text().split("## Add your own method", 1)[1]
    code = re.search(r"```python\n(.*?)```", guide, re.S).group(1)
    entry = re.search(r"```ini\n.*?ganrep.methods =\n\s+(.*?)\n```", guide, re.S).group(1)
    return code, entry


def test_readme_example_is_about_fifty_lines():
    code, entry = readme_plugin()
    assert 30 <= len(code.splitlines()) <= 70
    assert entry == "barlow_twins = my_methods.barlow_twins:BarlowTwins"


def test_entry_point_method_runs_with_no_edit(tmp_path):
    real_fmnist_or_skip()
    code, entry = readme_plugin()
    site = tmp_path / "site"
    (site / "my_methods").mkdir(parents=True)
    (site / "my_methods" / "__init__.py").write_text("")
    (site / "my_methods" / "barlow_twins.py").write_text(code)
    dist = site / "my_methods-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-methods\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[ganrep.methods]\n{entry}\n")

    result = launch(tmp_path, "method=barlow_twins", "method.lambda_offdiag=0.01", "preset=smoke", "anchors=false",
                    env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.output[-3000:]
    record = json.loads(next((tmp_path / "results").rglob("barlow_twins-*.json")).read_text())
    assert record["config"]["method"] == {"name": "barlow_twins", "lambda_offdiag": 0.01, "embed_dim": 256,
                                          "hidden_dim": 256}
    assert record["trained"] and record["train_stats"]["steps"] == 3
    assert record["method_conventions"] == {"augmentation": "per-sample parameters"}
    assert record["method_source"] == {"module": "my_methods.barlow_twins", "class": "BarlowTwins",
                                       "distribution": "my-methods", "version": "0.1"}
    assert all(v == v for v in record["train_stats"]["final_losses"].values())  # finite, not NaN
