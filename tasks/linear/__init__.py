"""Linear evaluation of a frozen backbone: how is classification evaluated?

- ``classification.py``: ``task=linear_<dataset>``, frozen features + L-BFGS logistic regression;
- ``transfer_suite.py``: ``task=transfer_linear | transfer_embedded``, several of those on one backbone;
- ``probe.py``: ``task=probe_<dataset>``, the paper's SGD probe on augmented images;
- ``evaluation_sets.py``: opening an evaluation set and its frozen-feature transform;
- ``features.py``: frozen features and their on-disk cache;
- ``protocol.py``: the weight-decay sweep, selection on validation, refit, test score;
- ``logistic.py`` + ``lbfgs.py``: the multinomial logistic solver;
- ``metrics.py``: top-1, mean per-class accuracy, VOC07 mAP.
"""
from tasks.linear import classification, probe, transfer_suite  # noqa: F401  (registers the tasks)
