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


def test_checkpoint_labels_come_from_the_named_wrn_28_2_file_and_a_null_file_is_named(tmp_path):
    from benchmark.analysis.wrn_classifier import load_wrn_checkpoint, wrn_28_2

    torch.manual_seed(0)
    torch.save({"net": {"module." + k: v for k, v in wrn_28_2().state_dict().items()}}, tmp_path / "wrn.pth")
    cpu = torch.device("cpu")
    cfg = {"analysis": {"labels": "checkpoint", "classifier_checkpoint": str(tmp_path / "wrn.pth")},
           "generator": {"name": "small_gan"}, "data": {"name": "cifar10_in_memory"}}
    labeler, description, names = labeler_of(cfg, None, cpu)  # the generator is not consulted
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.equal(labeler(images), load_wrn_checkpoint(tmp_path / "wrn.pth").predict(images))
    assert "WRN-28-2" in description and str(tmp_path / "wrn.pth") in description and names[-1] == "truck"
    cfg["analysis"]["classifier_checkpoint"] = None
    with pytest.raises(UserError, match="analysis.classifier_checkpoint is null, but analysis.labels=checkpoint"):
        labeler_of(cfg, None, cpu)
