"""Where a training run's curves go: ``metrics.jsonl`` (one JSON line per logged step: the step, the lr and
every loss term) and TensorBoard event files in ``<run>/tensorboard/`` (the same terms as ``loss/<term>``, ``lr``,
and ``throughput/images_per_s``), for pretraining (engine.py) and the small GAN's training
(benchmark/generators/train_small_gan.py). ``tensorboard --logdir artifacts`` shows every run.

A run that resumes from a checkpoint at step ``start`` repeats the steps after it, and a curve must show each
step once: the JSON lines at or after ``start`` are dropped, and TensorBoard's ``purge_step`` hides the events
logged there before. Images per second are wall-clock and so go to TensorBoard only: ``metrics.jsonl`` stays
what the computation gives (a resumed run writes the same lines as an uninterrupted one).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional

from benchmark.artifacts import atomic_write_text

log = logging.getLogger(__name__)

METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"


def truncate_metrics(path: Path, start: int) -> None:
    """Keep only the logged steps before ``start``: a run that resumes from an earlier checkpoint (a fall-back
    to the previous one) or starts over repeats the steps after it, and a curve must show each step once."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if (step := _logged_step(line)) is not None and step < start]
    if len(kept) != len(lines):
        log.info("metrics.jsonl: dropped %d line(s) logged at or after step %d (the run resumes there)",
                 len(lines) - len(kept), start)
        atomic_write_text(path, "".join(line + "\n" for line in kept))


def _logged_step(line: str) -> Optional[int]:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):  # a line cut short by a kill: dropped
        return None


class TrainingCurves:
    """The curves of one run in ``out_dir``, from step ``start``; ``images_per_step`` turns the wall-clock time
    between two logged steps into images/s. A context manager: the files are closed on the way out."""

    def __init__(self, out_dir: Path, start: int, images_per_step: int):
        self.out_dir, self.images_per_step = Path(out_dir), images_per_step
        self.out_dir.mkdir(parents=True, exist_ok=True)
        truncate_metrics(self.out_dir / METRICS, start)
        self.jsonl = open(self.out_dir / METRICS, "a")
        from torch.utils.tensorboard import SummaryWriter  # here: only a run that logs pays for the import

        self.writer = SummaryWriter(log_dir=str(self.out_dir / TENSORBOARD), purge_step=start)
        self.last = (start, time.perf_counter())

    def log(self, step: int, values: dict, **extra: float) -> None:
        """Step ``step``'s loss terms (``values``) and other scalars (``extra``, e.g. lr) to both sinks."""
        self.jsonl.write(json.dumps({"step": step, **extra, **{k: round(v, 5) for k, v in values.items()}}) + "\n")
        self.jsonl.flush()
        for name, value in values.items():
            self.writer.add_scalar(f"loss/{name}", value, step)
        for name, value in extra.items():
            self.writer.add_scalar(name, value, step)
        steps, now = step - self.last[0], time.perf_counter()
        if steps > 0:
            self.writer.add_scalar("throughput/images_per_s", steps * self.images_per_step / (now - self.last[1]), step)
        self.last = (step, now)

    def close(self) -> None:
        self.jsonl.close()
        self.writer.close()

    def __enter__(self) -> "TrainingCurves":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
