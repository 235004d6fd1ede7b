"""Built-in evaluation tasks, one folder per family; importing this package registers them.

- ``tasks/linear/``: classification on a frozen backbone (frozen features + L-BFGS, the SGD probe, the
  transfer suites), with everything they use: feature extraction and its cache, the sweep / select /
  refit protocol, the logistic solver, the metrics.
- ``tasks/dense/``: detection, segmentation and surface normals on the backbone's stage maps, with their
  heads, transforms, fine-tuning loop, metrics and VOC AP.
- ``tasks/discrepancy/``: how far apart a backbone holds real and generated images (the suite's measure of
  the poster's "discrepancy of representation");
- ``tasks/limits.py``: how a preset's ``eval`` limits bound any task.
"""
from tasks import dense, discrepancy, linear  # noqa: F401
