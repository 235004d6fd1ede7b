"""How far apart does a frozen backbone hold real and generated images? (``task=rep_discrepancy``)

- ``representation_discrepancy.py``: the task (the suite's stand-in for the poster's "discrepancy of
  representation", which has no published definition);
- ``kernel_distance.py``: the KID's unbiased MMD^2 between two feature sets.
"""
from tasks.discrepancy import representation_discrepancy  # noqa: F401  (registers the task)
