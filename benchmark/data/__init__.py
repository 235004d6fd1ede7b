"""Real-image datasets, built by name from the ``data`` config section."""
from benchmark.data import fashion_mnist  # noqa: F401  (registers)
from benchmark.data.errors import DatasetNotFoundError  # noqa: F401
from benchmark.registry import DATASETS


def build_dataset(data_cfg, split: str):
    cfg = dict(data_cfg)
    return DATASETS.get(cfg.pop("name"))(split=split, **cfg)
