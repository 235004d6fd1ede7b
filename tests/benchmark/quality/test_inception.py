"""The FID's Inception (benchmark/quality/inception.py) loaded offline: a random-weight file in the format of
torch-fidelity's weights gives 2048-d features of uint8 images; a missing or wrong file is a UserError that
says what to do. The real weights are never needed (nor downloaded)."""
from __future__ import annotations

import io

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from benchmark.errors import UserError
from benchmark.quality import inception
from benchmark.quality.inception import WEIGHTS_FILE, WEIGHTS_URL, inception_feature


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A state dict of torch-fidelity's Inception-v3 with its initial (random) weights, saved as its file is."""
    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    with pytest.MonkeyPatch.context() as patch:
        # the architecture without its weights: the constructor's load of the (empty) file is skipped
        patch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state, strict=True: None)
        torch.manual_seed(0)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=empty)
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


def test_random_weights_give_2048_d_features_of_uint8_images(random_weights, one_thread):
    net = inception_feature(str(random_weights))
    assert net.num_features == 2048 and not net.training
    assert "random-inception.pth" in net.description and "FID" in net.description
    assert torch.equal(net.Mixed_7c.branch1x1.conv.weight, torch.load(random_weights)["Mixed_7c.branch1x1.conv.weight"])
    images = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        features = net(net.to_feature_input(images))
    assert features.shape == (2, 2048) and features.dtype == torch.float32 and torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])


def test_default_is_torch_fidelitys_cached_file_and_a_missing_one_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    expected = tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    assert WEIGHTS_FILE == expected.name and inception.default_weights_path() == expected
    with pytest.raises(UserError) as info:
        inception_feature()
    message = str(info.value)
    assert str(expected) in message and WEIGHTS_URL in message and "weights=" in message
    assert WEIGHTS_URL.endswith("/" + WEIGHTS_FILE)


def test_the_cached_file_is_used_when_present(tmp_path, monkeypatch, random_weights):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    inception.default_weights_path().parent.mkdir(parents=True)
    inception.default_weights_path().symlink_to(random_weights)
    assert WEIGHTS_FILE in inception_feature().description


def test_a_named_file_that_is_missing_or_no_state_dict_is_named(tmp_path):
    with pytest.raises(UserError, match="nowhere.pth"):
        inception_feature(str(tmp_path / "nowhere.pth"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="garbage.pth"):
        inception_feature(str(garbage))
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(UserError, match="other.pth.*not a state dict of torch-fidelity's Inception-v3"):
        inception_feature(str(other))
    pickled = tmp_path / "pickled.pth"
    torch.save({"weights": io.BytesIO(b"x")}, pickled)  # an object the safe loader refuses
    with pytest.raises(UserError, match="pickled.pth.*weights_only=True"):
        inception_feature(str(pickled))
