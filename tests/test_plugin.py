"""A method from a separately installed package (entry point only, no yaml, no edit here) runs via launch.py."""
from __future__ import annotations

import json
import textwrap

from test_end_to_end import launch, real_fmnist_or_skip

PLUGIN = '''
from dataclasses import dataclass

import torch
from torch import nn

from benchmark.interfaces import Method


@dataclass
class Config:
    weight: float = 1.0


class LatentRegression(Method):
    """Regress the generator's latent w from the synthetic image."""
    Config = Config
    consumes = frozenset({"generator"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.head = nn.Linear(ctx.backbone.feature_dim, ctx.generator.w_dim)

    def training_step(self, batch):
        loss = self.cfg.weight * nn.functional.mse_loss(self.head(self.backbone(batch.syn.images)), batch.syn.w)
        return {"loss": loss}
'''


def test_entry_point_method_runs_with_no_edit(tmp_path):
    real_fmnist_or_skip()
    site = tmp_path / "site"
    (site / "tiny_plugin").mkdir(parents=True)
    (site / "tiny_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "tiny_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ganrep.methods]\nlatent_regression = tiny_plugin:LatentRegression\n")

    result = launch(tmp_path, "method=latent_regression", "method.weight=2.0", "preset=smoke", "anchors=false",
                    env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.output[-3000:]
    record = json.loads(next((tmp_path / "results").rglob("latent_regression-*.json")).read_text())
    assert record["config"]["method"] == {"name": "latent_regression", "weight": 2.0}
    assert record["trained"] and record["train_stats"]["steps"] == 3
