"""SLURM's preemption / time-limit signal, through submitit for real (its LocalExecutor requeues like
SLURM): a pretraining stage checkpoints the step it is in, submitit requeues it, and the requeued job
resumes there and ends with bitwise the weights of an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import submitit
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.orchestration import identity, stages
from benchmark.orchestration.cluster import StageJob
from tests.helpers.launching import REPO
from tests.helpers.pretraining import assert_state_dicts_equal
from tests.helpers.replicas import write_fashion_mnist_replica

STEPS = 40
OVERRIDES = ["preset=smoke", "method=simsiam", "method.domain=syn_real", "anchors=false", "device=cpu",
             f"pretrain.steps={STEPS}", "pretrain.checkpoint_every=1000", "pretrain.log_every=1",
             "pretrain.deterministic=true"]  # no periodic checkpoint: any resume is from the signal's


def stage_config(root: Path) -> dict:
    with initialize_config_dir(config_dir=str(REPO / "launch"), version_base="1.3"):
        cfg = compose("config", overrides=[*OVERRIDES, f"paths.artifacts={root}/artifacts",
                                           f"paths.results={root}/results"])
    return OmegaConf.to_container(cfg, resolve=True)


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc/<pid>/stat: the field after the name is the ppid)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return children


def task_rank(pid: int) -> int:
    """A submitit local task's global rank, from its environment."""
    env = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    return int(env["SUBMITIT_LOCAL_GLOBALID"])


@pytest.mark.parametrize("tasks,signalled_rank", [(1, 0), (2, 1)], ids=["one-process", "two-processes-rank1-only"])
def test_signal_checkpoints_the_current_step_and_requeued_job_ends_bitwise_equal(tmp_path, monkeypatch, tasks,
                                                                                 signalled_rank):
    """Two processes: only rank 1 gets the signal (SLURM signals tasks at different instants); both
    checkpoint the same step, rank 0 requeues, both resume, and the weights are an uninterrupted run's."""
    monkeypatch.setenv("GANREP_DATA", str(write_fashion_mnist_replica(tmp_path / "fmnist")))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    executor = submitit.LocalExecutor(folder=str(tmp_path / "submitit"))
    executor.update_parameters(timeout_min=10, tasks_per_node=tasks)
    full_cfg, signalled_cfg = stage_config(tmp_path / "full"), stage_config(tmp_path / "signalled")

    full = executor.submit(StageJob(), stages.pretrain_only, full_cfg)
    full_weights = Path(full.results()[0])

    job = executor.submit(StageJob(), stages.pretrain_only, signalled_cfg)
    run_dir = Path(identity.pretrained_weights(signalled_cfg)).parent
    deadline, sent = time.time() + 180, False
    while not sent and time.time() < deadline and not job.done():
        logged = (run_dir / "metrics.jsonl").read_text().count("\n") if (run_dir / "metrics.jsonl").exists() else 0
        if logged >= 8:  # mid-run: the controller's children are the job's tasks
            for pid in child_pids(job._process.pid):
                if task_rank(pid) == signalled_rank:
                    os.kill(pid, signal.SIGUSR2)  # what SLURM sends before preempting (submitit's --signal)
                    sent = True
        time.sleep(0.01)
    assert sent, "the run ended before the signal could be sent"
    weights = Path(job.results()[0])

    stats = json.loads((run_dir / "train_stats.json").read_text())
    assert stats["processes"] == tasks
    assert 8 <= stats["resumed_from"] < STEPS, stats  # resumed from the step the signal came in
    log = Path(job.paths.stderr).read_text()  # the first task's
    assert f"checkpoint of step {stats['resumed_from']} written on the signal" in log
    assert f"resuming pretraining at step {stats['resumed_from']}" in log
    assert_state_dicts_equal(torch.load(full_weights), torch.load(weights))


class Requeued(Exception):
    """Stands for submitit's handler on the first task: it checkpoints the job's call, requeues it, exits."""


@pytest.fixture
def deferred_usr2():
    """SIGUSR2 routed through benchmark.preemption, to a handler that records its calls and raises Requeued."""
    from benchmark import preemption

    calls = []

    def requeue(signum, frame):
        calls.append(signum)
        raise Requeued

    previous = signal.signal(signal.SIGUSR2, requeue)
    preemption.defer_to_step_boundary(signal.SIGUSR2)
    yield calls
    preemption.stop_deferring(signal.SIGUSR2)
    signal.signal(signal.SIGUSR2, previous)


def test_a_process_the_signal_has_not_reached_yet_checkpoints_and_hands_on_the_deferred_one(deferred_usr2):
    """Data parallel: SLURM signals every task, not at the same instant; once any process has noted it, all
    checkpoint the same step and hand over, also one with nothing noted itself (it used to crash there)."""
    from benchmark import preemption

    checkpoints = []
    with preemption.running_steps():
        assert not preemption.pending()
        preemption.end_of_step(7, checkpoints.append, checkpoint_every=1000, signalled=False)
        assert checkpoints == [] and deferred_usr2 == []
        with pytest.raises(Requeued):
            preemption.end_of_step(8, checkpoints.append, checkpoint_every=1000, signalled=True)
    assert checkpoints == [8] and deferred_usr2 == [signal.SIGUSR2]


def test_a_signal_in_the_last_step_is_handed_on_once_the_weights_are_saved(deferred_usr2, tmp_path, fmnist_replica,
                                                                          small_generator):
    """The last step has no step boundary after it: the signal waits for the caller's section (which saves the
    weights) to end, then requeues; the requeued job finds the weights. Before, it was never handed on."""
    from benchmark import preemption
    from benchmark.data import build_dataset
    from benchmark.pretraining.engine import pretrain
    from tests.helpers.methods import build
    from tests.helpers.pretraining import RESUME_CFG as CFG

    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    method = build("sqsp", small_generator)
    real_sample, calls = small_generator.sample, {"n": 0}

    def sample(*args, **kwargs):  # the signal arrives while the last step's batch is drawn
        calls["n"] += 1
        if calls["n"] == CFG["steps"]:
            os.kill(os.getpid(), signal.SIGUSR2)
        return real_sample(*args, **kwargs)

    small_generator.sample = sample
    saved = []
    try:
        with pytest.raises(Requeued):
            with preemption.running_steps():  # as experiment._pretrain_or_load: train, then save, in one section
                stats = pretrain(method, small_generator, data, CFG, tmp_path, torch.device("cpu"), seed=0)
                assert deferred_usr2 == [], "handed on before the weights were saved"
                saved.append(stats["steps"])
    finally:
        del small_generator.sample
    assert saved == [CFG["steps"]] and deferred_usr2 == [signal.SIGUSR2]
    assert not preemption.pending()


def test_a_failing_section_reports_its_error_not_a_requeue(deferred_usr2):
    from benchmark import preemption

    with pytest.raises(ZeroDivisionError):
        with preemption.running_steps():
            os.kill(os.getpid(), signal.SIGUSR2)
            assert preemption.pending()
            1 / 0
    assert deferred_usr2 == [] and not preemption.pending()


def test_a_last_step_signal_noted_by_another_process_is_handed_on_here_too(deferred_usr2):
    """Data parallel, last step: the flag is all-reduced, so a process the signal has not reached yet hands it
    on at the end of its section as well (else its task would end without a result and the job count as
    failed); and a signal that reaches a process after it handed one on is ignored, not a second requeue."""
    from benchmark import preemption

    saved = []
    with pytest.raises(Requeued):
        with preemption.running_steps():
            preemption.signalled_elsewhere()
            saved.append("weights")
    assert saved == ["weights"] and deferred_usr2 == [signal.SIGUSR2]
    os.kill(os.getpid(), signal.SIGUSR2)  # its own copy of the signal, arriving late
    assert deferred_usr2 == [signal.SIGUSR2] and not preemption.pending()
