"""How does pretraining loop? ``engine.py`` (the one training loop of every method), ``augment.py`` (the
batched augmentation methods build through ``MethodContext.make_augment``), ``distributed.py``
(data-parallel processes, one global batch)."""
