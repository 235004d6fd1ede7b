"""Where experiment=umap's labels come from (benchmark/orchestration/analysis_stage.labeler_of)."""
from __future__ import annotations

import pytest
import torch

from benchmark.errors import UserError
from benchmark.orchestration.analysis_stage import labeler_of
from tests.helpers.analysis import ConditionalPerLayer, small_gan


def test_a_conditional_generator_labels_its_own_samples_and_an_unconditional_one_cannot():
    cpu = torch.device("cpu")
    cfg = {"analysis": {"labels": "auto"}, "generator": {"name": "conditional"}}
    labeler, description, names = labeler_of(cfg, ConditionalPerLayer(), cpu)
    assert labeler is None and "conditional generator's own classes" in description and names is None
    cfg = {"analysis": {"labels": "generator"}, "generator": {"name": "small_gan"}}
    with pytest.raises(UserError, match="analysis.labels=generator: generator 'small_gan' is unconditional"):
        labeler_of(cfg, small_gan(), cpu)
