"""The WRN-28-2 labeller of analysis.labels=checkpoint (benchmark/analysis/wrn_classifier.py): the architecture
pinned by a forward pass written out here from the authors' network, the checkpoint layouts it reads and the
errors it gives instead of a partial load."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark.analysis.wrn_classifier import WideResNet, load_wrn_checkpoint, wrn_28_2
from benchmark.errors import RefusedFileError, UserError

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)


def random_wrn(seed: int = 0) -> WideResNet:
    """A WRN-28-2 with random weights and random BatchNorm statistics (so eps and every BN matter)."""
    torch.manual_seed(seed)
    net = wrn_28_2()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.05, 1.0)
    return net.eval()


def images(n: int = 6, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def save_official(net, path, junk: bool = True) -> None:
    """The authors' layout: the state dict under 'net', keys as nn.DataParallel saves them, more beside it."""
    state = {"module." + k: v for k, v in net.state_dict().items()}
    if junk:
        state["module.ema.fc.weight"] = torch.zeros(3)
    torch.save({"net": state, "acc": 94.5, "epoch": 199}, path)


# the authors' network written out on its state dict (src/models/wrn.py): eval-mode BatchNorm with eps 1e-3,
# LeakyReLU(0.1), biased convolutions
def bn(x, sd, name):
    return F.batch_norm(x, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"],
                        sd[f"{name}.bias"], training=False, eps=1e-3)


def conv(x, sd, name, stride=1, padding=1):
    return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], stride=stride, padding=padding)


def reference_unit(x, sd, name, stride, widening, activate_before_residual):
    activated = F.leaky_relu(bn(x, sd, f"{name}.bn1"), 0.1)
    if widening and activate_before_residual:
        x = branch = activated          # both paths read the activated input
    elif widening:
        branch = x                      # the activation is unused: both paths read the raw input
    else:
        branch = activated              # identity shortcut on the raw input
    h = F.leaky_relu(bn(conv(branch, sd, f"{name}.conv1", stride), sd, f"{name}.bn2"), 0.1)
    h = conv(h, sd, f"{name}.conv2")
    return (conv(x, sd, f"{name}.convShortcut", stride, 0) if widening else x) + h


def reference_forward(x, sd):
    h = conv(x, sd, "conv1")
    for stage, stride in ((1, 1), (2, 2), (3, 2)):
        for i in range(4):
            h = reference_unit(h, sd, f"block{stage}.layer.{i}", stride if i == 0 else 1, widening=i == 0,
                               activate_before_residual=stage == 1)
    h = F.leaky_relu(bn(h, sd, "bn1"), 0.1).mean(dim=(2, 3))
    return F.linear(h, sd["fc.weight"], sd["fc.bias"])


def test_the_network_is_the_authors_wrn_28_2_unit_by_unit_and_whole():
    net = random_wrn().double()
    sd = net.state_dict()
    x = torch.randn(3, 16, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        # block1's first unit widens 16 -> 32 with activate_before_residual; block2's widens and strides
        # without it (the unused pre-activation); block2's second keeps its width (identity shortcut)
        assert net.block1.layer[0].convShortcut is not None and net.block2.layer[1].convShortcut is None
        torch.testing.assert_close(net.block1.layer[0](x), reference_unit(x, sd, "block1.layer.0", 1, True, True),
                                   atol=1e-5, rtol=1e-5)
        y = torch.randn(3, 32, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(net.block2.layer[0](y), reference_unit(y, sd, "block2.layer.0", 2, True, False),
                                   atol=1e-5, rtol=1e-5)
        z = torch.randn(3, 64, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
        torch.testing.assert_close(net.block2.layer[1](z), reference_unit(z, sd, "block2.layer.1", 1, False, False),
                                   atol=1e-5, rtol=1e-5)
        image = torch.randn(4, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
        torch.testing.assert_close(net(image), reference_forward(image, sd), atol=1e-5, rtol=1e-5)


def test_parameter_count_is_the_published_wrn_28_2_plus_the_authors_conv_biases():
    net = wrn_28_2()
    total = sum(p.numel() for p in net.parameters())
    conv_biases = sum(m.bias.numel() for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    # 1,467,610 is WRN-28-2's published size (bias-free convolutions); the authors' network gives every
    # convolution a bias: 2,032 more
    assert (total, conv_biases, total - conv_biases) == (1_469_642, 2_032, 1_467_610)


def test_the_authors_checkpoint_layout_round_trips_to_the_same_labels(tmp_path):
    net = random_wrn()
    path = tmp_path / "cifar10_wrn.pth"
    save_official(net, path)
    labeller = load_wrn_checkpoint(path)
    x = images()
    with torch.no_grad():
        expected = net(((x + 1) / 2 - MEAN) / STD)
    torch.testing.assert_close(labeller.logits(x), expected, atol=1e-5, rtol=1e-5)
    labels = labeller.predict(x)
    assert labels.dtype == torch.long and torch.equal(labels, expected.argmax(dim=1))
    assert labeller.dropped_keys == ["ema.fc.weight"]
    assert labeller.classes[0] == "airplane" and len(labeller.classes) == 10
    assert str(path) in labeller.description and "WRN-28-2" in labeller.description


@pytest.mark.parametrize("layout", ["state_dict", "bare"])
def test_a_state_dict_under_state_dict_or_bare_loads_too(tmp_path, layout):
    net = random_wrn()
    state = net.state_dict()
    torch.save({"state_dict": state} if layout == "state_dict" else state, tmp_path / "c.pth")
    x = images(3)
    with torch.no_grad():
        expected = net(((x + 1) / 2 - MEAN) / STD).argmax(dim=1)
    assert torch.equal(load_wrn_checkpoint(tmp_path / "c.pth").predict(x), expected)


def test_a_missing_key_is_an_error_naming_it(tmp_path):
    state = wrn_28_2().state_dict()
    del state["block2.layer.3.conv2.bias"]
    torch.save({"net": state}, tmp_path / "c.pth")
    with pytest.raises(UserError, match=r"1 of the network's \d+ keys are missing, first block2\.layer\.3\.conv2\.bias"
                                        r" \(a partial load"):
        load_wrn_checkpoint(tmp_path / "c.pth")


def test_a_shape_mismatch_is_an_error_naming_the_key_and_both_shapes(tmp_path):
    state = WideResNet(num_classes=100).state_dict()  # a CIFAR-100 head
    torch.save({"net": state}, tmp_path / "c.pth")
    with pytest.raises(UserError, match=r"fc\.weight has shape \(100, 128\) in the file.*expects \(10, 128\)"):
        load_wrn_checkpoint(tmp_path / "c.pth")


def test_a_missing_file_is_an_error_naming_it_and_the_option(tmp_path):
    with pytest.raises(UserError, match=r"analysis\.classifier_checkpoint=.*nowhere\.pth.*no such file"):
        load_wrn_checkpoint(tmp_path / "nowhere.pth")


RAN = []


def _run_on_load():
    RAN.append(True)
    return "ran"


class ObjectInFile:
    """Pickled as a call of _run_on_load: an unsafe loader would run it."""

    def __reduce__(self):
        return _run_on_load, ()


def test_a_file_with_objects_other_than_tensors_is_refused_and_nothing_in_it_runs(tmp_path):
    torch.save({"net": wrn_28_2().state_dict(), "meta": ObjectInFile()}, tmp_path / "c.pth")
    with pytest.raises(RefusedFileError, match=r"c\.pth: refused.*objects other than tensors.*_run_on_load"):
        load_wrn_checkpoint(tmp_path / "c.pth")
    assert RAN == []
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(RefusedFileError, match=r"junk\.pth: refused.*not a torch.save file"):
        load_wrn_checkpoint(tmp_path / "junk.pth")


def test_images_other_than_rgb_32_are_refused(tmp_path):
    save_official(wrn_28_2(), tmp_path / "c.pth", junk=False)
    with pytest.raises(UserError, match=r"RGB 32x32 images.*\(2, 1, 32, 32\)"):
        load_wrn_checkpoint(tmp_path / "c.pth").predict(torch.zeros(2, 1, 32, 32))
