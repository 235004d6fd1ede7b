"""The toolkit of a method plugin: everything a method imports, from one place.

    from benchmark.toolkit import Batch, Method, MethodContext, mlp_projector, VICRegLoss

- the method contract (benchmark/interfaces.py): ``Method``, ``MethodContext``, ``Batch``, and
  ``GeneratorOutput`` (what ``batch.syn`` holds: images in [-1, 1], per-block features, w);
- heads (``heads.py``): ``mlp_projector``, ``SqueezeModule`` (Squeeze and Span's T_phi);
- losses (``losses.py``): the VICReg / Squeeze-and-Span terms ``invariance_loss``, ``variance_loss``,
  ``covariance_loss``, their weighted sum ``VICRegLoss``, and ``at_least_float32`` for batch statistics
  under autocast;
- the syn / real split of self-supervised baselines (``domains.py``): ``DomainMethod`` (a method whose
  ``domain`` option says what it trains on), ``domain_images``, ``split_for``, ``DOMAINS``.

The built-in methods (``methods/``) import from here too, so this is what they are tested through.
"""
from benchmark.interfaces import Batch, GeneratorOutput, Method, MethodContext
from benchmark.toolkit.domains import DOMAINS, DomainMethod, domain_images, split_for
from benchmark.toolkit.heads import SqueezeModule, mlp_projector
from benchmark.toolkit.losses import VICRegLoss, at_least_float32, covariance_loss, invariance_loss, variance_loss

__all__ = ["Batch", "GeneratorOutput", "Method", "MethodContext", "DOMAINS", "DomainMethod", "domain_images",
           "split_for", "SqueezeModule", "mlp_projector", "VICRegLoss", "at_least_float32", "covariance_loss",
           "invariance_loss", "variance_loss"]
