"""Real-image datasets, built by name from the ``data`` config section."""
# importing a loader module registers it
from benchmark.data import fashion_mnist  # noqa: F401  (pretraining)
from benchmark.data import cifar, stl10, imagenet  # noqa: F401  (in-domain evaluation)
from benchmark.data import aircraft, caltech101, cars, dtd, flowers, food, pets, sun397, voc2007  # noqa: F401  (transfer)
from benchmark.data import digits  # noqa: F401  (offline transfer target)
from benchmark.data import nyuv2  # noqa: F401  (dense transfer)
from benchmark.data import voc_detection, ade20k  # noqa: F401  (dense transfer)
from benchmark.data.errors import DatasetNotFoundError  # noqa: F401
from benchmark.registry import DATASETS


def build_dataset(data_cfg, split: str):
    cfg = dict(data_cfg)
    return DATASETS.get(cfg.pop("name"))(split=split, **cfg)
