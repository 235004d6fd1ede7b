"""Checkpoint when SLURM signals a preemption or the time limit, at the next step boundary.

submitit's handler for that signal (SIGUSR2) calls the job's ``checkpoint`` (benchmark/orchestration/cluster.py's
StageJob requeues the same call) and requeues the job at once, from inside whatever the process was
doing; a pretraining run would then restart from its last periodic checkpoint and redo the steps since.
``defer_to_step_boundary`` wraps that handler: while a training loop is ``running_steps``, the signal is
only noted, the loop finishes its step, writes a checkpoint of exactly that step and then hands the
signal on (``hand_over``), so submitit requeues and the requeued run resumes with nothing redone. A
signal outside a training loop (evaluation, the leaderboard) is handed on at once.

A signal noted in a loop's last step has no step boundary after it: it is handed on when the outermost
``running_steps`` section ends normally, so a caller that saves the loop's result inside its own section
(the pretrained weights, the trained GAN) hands it on after saving, and the requeued job finds the result.

With several processes (data-parallel pretraining) SLURM signals every task, not at the same instant;
the loop asks whether any process has noted it (one all-reduce) and all of them checkpoint the same
step and hand over, also one that has not received it yet: it hands on the signal it was deferring.

SLURM sends the signal ``--signal`` seconds (submitit: 90) before it kills the job; a pretraining step
takes well under a second, so the checkpoint is written in time.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
from typing import Callable, Optional

log = logging.getLogger(__name__)
_deferred: dict = {}   # signum -> the handler that was installed before ours
_pending: list = []    # (signum, frame) of signals noted during a loop, not yet handed on
_loops_running = 0
_handed_over = False   # this process has handed a signal on (and is ending): later ones are moot


def defer_to_step_boundary(signum: int) -> None:
    """Route ``signum`` through the step-boundary logic; the handler installed now gets it afterwards."""
    if signum in _deferred:
        return
    _deferred[signum] = signal.getsignal(signum)
    signal.signal(signum, _note)


def stop_deferring(signum: int) -> None:
    """Give ``signum`` back to the handler that was installed before ``defer_to_step_boundary``."""
    global _handed_over
    if signum in _deferred:
        signal.signal(signum, _deferred.pop(signum))
    _pending.clear()
    _handed_over = False


def _note(signum, frame) -> None:
    if _handed_over:  # e.g. a process that handed on another process's signal, then received its own
        log.warning("caught %s after handing one on: ignored", signal.Signals(signum).name)
    elif _loops_running:
        log.warning("caught %s: checkpointing at the end of this step, then requeueing",
                    signal.Signals(signum).name)
        _pending.append((signum, frame))
    else:
        _call_original(signum, frame)


def pending() -> bool:
    """Whether a deferred signal waits to be handed on."""
    return bool(_pending)


def signalled_elsewhere() -> None:
    """Another process noted the signal in the last step (nothing follows it but saving): this process hands
    it on too when its section ends, as if it had noted it."""
    if not _pending and _deferred:
        _pending.append((next(iter(_deferred)), None))


@contextlib.contextmanager
def running_steps():
    """A training section: signals are noted, and handed on by ``end_of_step`` at a step boundary, or when
    the outermost section ends normally (a signal in the last step). Sections nest."""
    global _loops_running
    _loops_running += 1
    try:
        yield
    except BaseException:
        if _loops_running == 1:
            _pending.clear()  # the section failed: its error is what the job reports, not a requeue
        raise
    finally:
        _loops_running -= 1
    if _loops_running == 0 and _pending:
        log.warning("the signal came in the last step; handing it on now that the result is saved")
        hand_over()


def end_of_step(steps_done: int, checkpoint: Callable[[int], None], checkpoint_every: int,
                signalled: Optional[bool] = None) -> None:
    """A training loop's step boundary (not after its last step). On a noted signal (``signalled``: noted
    by any process, where several train together; default: by this one) a checkpoint of exactly
    ``steps_done`` steps, then the signal is handed on; else the periodic checkpoint."""
    if pending() if signalled is None else signalled:
        checkpoint(steps_done)
        log.warning("checkpoint of step %d written on the signal; handing it on to requeue", steps_done)
        hand_over()
    if steps_done % checkpoint_every == 0:
        checkpoint(steps_done)


def hand_over() -> None:
    """Give the noted signal to the handler it was meant for (submitit's: requeue and exit). A process
    that handler lets live (submitit's, on every task but the first) ends here: the requeued job restarts
    every task. A process that has not received the signal yet (another process noted it first) hands on
    the one it defers."""
    global _handed_over
    signalled_elsewhere()  # nothing noted here: the signal this process defers
    if not _pending:
        raise SystemExit(0)
    signum, frame = _pending.pop(0)
    _pending.clear()
    _handed_over = True
    _call_original(signum, frame)
    raise SystemExit(0)


def _call_original(signum, frame) -> None:
    original = _deferred.get(signum, signal.SIG_DFL)
    if callable(original):
        original(signum, frame)
    elif original == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
