"""The offline dense benchmark: Fashion-MNIST items on a canvas, with boxes, instance and class masks."""
import torch

from benchmark.data.fmnist_canvas import fmnist_canvases, make_canvases
from tests.helpers.launching import real_fmnist_or_skip


def items_and_labels(n=12):
    g = torch.Generator().manual_seed(0)
    items = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for i in range(n):  # a bright rectangle whose size depends on the item, on a black background
        items[i, 4:8 + i, 6:20] = torch.randint(100, 256, (4 + i, 14), generator=g, dtype=torch.uint8)
    return items, torch.arange(n) % 10


def test_canvases_are_deterministic_and_annotations_agree():
    items, labels = items_and_labels()
    a = make_canvases(items, labels, [str(c) for c in range(10)], 30, canvas_size=64, seed=3)
    b = make_canvases(items, labels, [str(c) for c in range(10)], 30, canvas_size=64, seed=3)
    c = make_canvases(items, labels, [str(c) for c in range(10)], 30, canvas_size=64, seed=4)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    counts = [len(t["labels"]) for t in a.targets]
    assert min(counts) >= 1 and max(counts) <= 3 and len(set(counts)) > 1
    for n, t in enumerate(a.targets):
        union = torch.zeros(64, 64, dtype=torch.bool)
        for box, label, mask in zip(t["boxes"], t["labels"], t["masks"]):
            ys, xs = mask.nonzero(as_tuple=True)
            # the box is tight around the mask, inclusive pixel coordinates
            assert box.tolist() == [xs.min().item(), ys.min().item(), xs.max().item(), ys.max().item()]
            assert not (union & mask).any()  # items do not overlap
            union |= mask
            assert (a.class_masks[n][mask] == label + 1).all()
            assert (a.images[n, 0][mask] > 16).all()
        assert (a.class_masks[n][~union] == 0).all() and (a.images[n, 0][~union] <= 16).all()


def test_unscaled_items_are_copied_pixel_for_pixel():
    items, labels = items_and_labels(3)
    canvases = make_canvases(items, labels, [str(c) for c in range(10)], 5, canvas_size=48, max_items=1,
                             scale_range=(1.0, 1.0), seed=0)
    for n, t in enumerate(canvases.targets):
        x1, y1, x2, y2 = (int(v) for v in t["boxes"][0])
        crop = canvases.images[n, 0, y1:y2 + 1, x1:x2 + 1]
        matches = [torch.equal(crop, item[item.sum(1) > 0][:, item.sum(0) > 0]) for item in items]
        assert any(matches)


def test_fashion_mnist_canvases_differ_between_splits():
    real_fmnist_or_skip()
    train = fmnist_canvases("train", num_canvases=20, seed=0)
    test = fmnist_canvases("test", num_canvases=20, seed=0)
    assert train.images.shape == (20, 1, 64, 64) and len(train.classes) == 10
    assert not torch.equal(train.images, test.images)
    assert torch.equal(train.images, fmnist_canvases("train", num_canvases=20, seed=0).images)
