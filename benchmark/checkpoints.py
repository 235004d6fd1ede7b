"""Verified checkpoints and the process-wide RNG states they hold: what exact resume saves and reads back.

A checkpoint file is ``CHECKPOINT_MAGIC``, the sha256 of its payload, a newline, then ``torch.save``'s
payload, written atomically; the one it replaces is kept as ``checkpoint.prev.pt``, and a damaged latest
checkpoint falls back to it. The pretraining engine (benchmark/pretraining/engine.py) and the small-GAN
trainer (benchmark/generators/train_small_gan.py) both checkpoint through this module.
"""
from __future__ import annotations

import hashlib
import io
import logging
import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from benchmark.artifacts import atomic_write

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
CHECKPOINT_FILES = (CHECKPOINT, PREVIOUS_CHECKPOINT)

class CorruptCheckpointError(Exception):
    """A checkpoint file that cannot be read back: truncated, altered, or not a checkpoint."""


CHECKPOINT_MAGIC = b"GANREP-CHECKPOINT-1\n"  # then the payload's sha256 in hex, a newline, the torch.save payload


def save_checkpoint(obj: Any, path: Path, previous: Path | None = None) -> None:
    """``torch.save`` ``obj`` atomically with a sha256 of the payload in the file, so that ``load_checkpoint``
    can tell a damaged file; with ``previous``, the checkpoint it replaces is kept there."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    atomic_write(path, lambda f: f.write(CHECKPOINT_MAGIC + digest + b"\n" + payload), previous=previous)


def load_checkpoint(path: Path) -> Any:
    """Read a ``save_checkpoint`` file; raises CorruptCheckpointError when it is not intact."""
    try:
        blob = Path(path).read_bytes()
    except OSError as e:
        raise CorruptCheckpointError(f"{path}: cannot be read ({e})") from e
    if not blob.startswith(CHECKPOINT_MAGIC):
        raise CorruptCheckpointError(f"{path}: not a checkpoint (no header)")
    digest, sep, payload = blob[len(CHECKPOINT_MAGIC):].partition(b"\n")
    if not sep or hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CorruptCheckpointError(f"{path}: sha256 mismatch (truncated or altered)")
    try:  # RNG states must stay on the CPU
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - anything torch.load raises means the file is unusable
        raise CorruptCheckpointError(f"{path}: torch.load failed ({e})") from e


def global_rng_state() -> dict:
    """Every process-wide RNG a training step may draw from (augmentations use torch's global one)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {"torch": torch.get_rng_state(), "cuda": cuda, "python": random.getstate(),
            "numpy": np.random.get_state()}


def set_global_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            log.warning("the checkpoint has the RNG states of %d CUDA devices, this process sees %d; "
                        "restoring the first only, so the resumed run is not bitwise exact",
                        len(state["cuda"]), torch.cuda.device_count())
            torch.cuda.set_rng_state(state["cuda"][0])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def load_latest_checkpoint(out_dir: Path) -> Optional[dict]:
    """The newest intact checkpoint in out_dir (checkpoint.pt, else checkpoint.prev.pt), or None."""
    damaged = []
    for name in CHECKPOINT_FILES:
        path = Path(out_dir) / name
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
        except CorruptCheckpointError as e:
            damaged.append(path)
            log.warning("checkpoint %s is corrupt (%s)%s", path, e,
                        "; trying the previous one" if name == CHECKPOINT else "")
            continue
        if damaged or name != CHECKPOINT:
            log.warning("resuming from the previous checkpoint %s (step %d)", path, state["step"])
        return state
    if damaged:
        log.warning("no intact checkpoint in %s (%s damaged): pretraining starts over from step 0",
                    out_dir, ", ".join(p.name for p in damaged))
    return None


def remove_checkpoints(out_dir: Path) -> None:
    for name in CHECKPOINT_FILES:
        (Path(out_dir) / name).unlink(missing_ok=True)
