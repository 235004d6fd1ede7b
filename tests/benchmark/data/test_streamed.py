"""Pretraining images streamed from files (benchmark/data/streamed.py): what each file is decoded to, the
order of the batches (InMemoryImages's), exact resume whatever the number of workers, and ImageNet-100
pretraining end to end on a replica in the ImageFolder layout with the CMC class names."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.data import build_dataset
from benchmark.data.in_memory import InMemoryImages
from benchmark.data.streamed import DecodedSquares, StreamedImages
from tests.helpers.replicas import write_imagenet100_replica


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    return write_imagenet100_replica(tmp_path_factory.mktemp("imagenet100"))


def streamed(replica, workers=0, size=16) -> StreamedImages:
    return build_dataset({"name": "imagenet100_stream", "root": str(replica), "decode_size": size,
                          "num_workers": workers}, "train")


def test_a_file_becomes_the_centre_square_of_its_shorter_side_resize(tmp_path):
    """80x40 px, red | green | blue (columns 0-15, 16-63, 64-79): at 20 px the shorter side is 20, the long
    one 40, and the centre square (source columns 20-59) lies inside the green, beyond the resampling's reach
    of the other colours; a crop off centre, or no resize, would show red or blue."""
    pattern = np.zeros((40, 80, 3), dtype=np.uint8)
    pattern[:, :16] = (255, 0, 0)
    pattern[:, 16:64] = (0, 255, 0)
    pattern[:, 64:] = (0, 0, 255)
    Image.fromarray(pattern).save(tmp_path / "wide.png")
    Image.fromarray(pattern.transpose(1, 0, 2).copy()).save(tmp_path / "tall.png")
    for name in ("wide.png", "tall.png"):
        square = DecodedSquares([str(tmp_path / name)], 20)[0]
        assert square.shape == (3, 20, 20) and square.dtype == torch.uint8
        assert (square[1] == 255).all() and (square[0] == 0).all() and (square[2] == 0).all(), name


def test_reduced_scale_jpeg_decoding_stays_close_to_full_decoding(tmp_path):
    """``draft`` decodes a 512x384 JPEG at a quarter of its size for a 64 px square: the result may differ from
    resizing the full decode only by resampling error."""
    y, x = np.mgrid[0:384, 0:512]
    image = np.stack([x * 255 // 511, y * 255 // 383, (x + y) * 255 // 894], -1).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.jpg", quality=90)
    fast = DecodedSquares([str(tmp_path / "photo.jpg")], 64, draft=True)[0].float()
    full = DecodedSquares([str(tmp_path / "photo.jpg")], 64, draft=False)[0].float()
    assert (fast - full).abs().mean() < 2.0 and (fast - full).abs().max() < 16


def test_replica_images_keep_their_class_colour(replica):
    data = streamed(replica)
    assert (len(data), data.channels, data.image_size) == (200, 3, 16)
    assert data.native_format() == {"mode": "RGB", "channels": 3, "size": "variable"}
    for i in (0, 57, 199):
        k = int(data.labels[i])  # write_imagenet100_replica colours class k (k*2, 255-k*2, k*37 % 256)
        colour = torch.tensor([k * 2, 255 - k * 2, (k * 37) % 256], dtype=torch.float32)
        assert (data.squares[i].float().mean((1, 2)) - colour).abs().max() < 6


def test_batches_come_in_the_in_memory_order_across_epochs(replica):
    """Batch size 64 over 200 images: 3 batches an epoch, the last 8 images dropped, a new permutation each
    epoch; the same as InMemoryImages over the decoded squares draws with the same generator."""
    data = streamed(replica)
    in_memory = InMemoryImages(torch.stack([data.squares[i] for i in range(len(data))]), data.labels, data.classes)
    ours, reference = data.batches(64, torch.Generator().manual_seed(3)), in_memory.batches(64, torch.Generator().manual_seed(3))
    for _ in range(7):
        assert torch.equal(next(ours), next(reference))


def test_resume_is_exact_and_the_same_with_any_number_of_workers(replica):
    first = streamed(replica, workers=2).batches(48, torch.Generator().manual_seed(1))
    for _ in range(3):
        next(first)  # three of the first epoch's four batches (200 // 48)
    state = first.state_dict()
    expected = [next(first) for _ in range(4)]  # crosses the epoch boundary

    resumed = streamed(replica, workers=0).batches(48, torch.Generator().manual_seed(99))
    resumed.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(expected, (next(resumed) for _ in range(4))))


def test_a_state_of_another_batch_size_is_refused(replica):
    state = streamed(replica).batches(48, torch.Generator().manual_seed(1)).state_dict()
    with pytest.raises(ValueError, match="batch size 48 over 200 images does not fit batch size 32"):
        streamed(replica).batches(32, torch.Generator()).load_state_dict(state)


# end to end (every method pretraining on the streamed ImageNet-100 replica, evaluated, recorded):
# tests/test_imagenet_recipes.py, test_every_method_pretrains_with_preset_imagenet100
