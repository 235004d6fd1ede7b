"""What the exact-resume tests share: their in-process pretraining config, and bitwise state-dict equality."""
from __future__ import annotations

import torch

# 8 deterministic steps, a checkpoint after every one
RESUME_CFG = {"steps": 8, "batch_size": 16, "base_lr": 0.03, "momentum": 0.9, "weight_decay": 5e-4, "warmup_steps": 2, "lr_schedule": "per_step", "steps_per_epoch": None, "autocast": "bfloat16",
              "log_every": 1, "checkpoint_every": 1, "precision": "float32", "deterministic": True}


def assert_state_dicts_equal(a: dict, b: dict):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors that differ: {different[:5]}"


def tensorboard_scalars(folder) -> dict:
    """Every scalar tag of the event files in ``folder``: tag -> [(step, value)], as TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}

