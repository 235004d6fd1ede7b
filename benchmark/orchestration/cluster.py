"""Run a sweep as a job graph through submitit: ``cluster=slurm`` (sbatch) or ``cluster=local`` (subprocesses).

``launch.py`` collects the resolved config of every run of the sweep (Hydra expands the sweep, each
config as its ``main()`` would see it) and calls ``submit_graph`` once. The graph:

- one *pretraining* job per distinct pretraining hash (configs that differ only in their task share
  it); none when the weights are already cached or the method does not train. It runs
  ``pretrain_nodes`` x ``pretrain_gpus_per_node`` SLURM tasks (``pretrain_processes`` locally), one
  data-parallel process each (benchmark/pretraining/distributed.py; submitit exports the rendezvous);
- one *evaluation* job per config, after its pretraining job (``afterok``: nothing to evaluate
  without the weights; with ``--kill-on-invalid-dep=yes`` such a job is cancelled, not left pending);
- one *anchor* job per distinct anchor config (raw pixels, random init), with no dependency;
- one *leaderboard* job after every evaluation and anchor job, with ``afterany``: a failed or cancelled
  evaluation leaves no record, and the boards are still re-rendered from the records that were written
  (with ``afterok`` one failure in a large sweep would leave every board stale).

SLURM orders the jobs itself. submitit's LocalExecutor knows no dependencies, so ``cluster=local``
schedules from this process: each job is submitted once the jobs it waits for have ended, in whatever
order they end (an evaluation whose pretraining failed is skipped), at most ``max_parallel`` at once,
and ``launch.py`` returns when the leaderboard job has ended.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import submitit

from benchmark import preemption
from benchmark.orchestration.anchors import anchor_configs
from benchmark.orchestration.identity import expected_record_path, pretrained_weights, pretraining_hash
from benchmark.orchestration.resources import job_size
from benchmark.orchestration.stages import evaluate_only, pretrain_only, refresh_all_leaderboards

log = logging.getLogger(__name__)
SLURM_KEYS = ("partition", "cpus_per_task", "mem_gb", "timeout_min", "account", "constraint", "qos", "comment",
              "exclude")  # job sizes (nodes, tasks, GPUs) are set per job: resources.job_size


@dataclass
class Job:
    kind: str           # pretrain | evaluate | anchor | leaderboard
    name: str
    fn: object
    args: tuple
    after: list = field(default_factory=list)  # the Job objects this one waits for
    condition: str = "afterok"
    handle: object = None  # the submitit job once submitted

    @property
    def job_id(self) -> str:
        return self.handle.job_id if self.handle is not None else "-"


def _entry(fn, *args):
    """What a job runs: the stage function, with the log going to the job's stderr file."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] %(message)s")
    return fn(*args)


class StageJob(submitit.helpers.Checkpointable):
    """The callable submitted for every stage. submitit's ``Checkpointable``: when SLURM signals a
    preemption or the time limit, submitit calls ``checkpoint`` (inherited), which requeues this same
    call (at most ``max_num_timeout`` times for time-outs). A pretraining stage first finishes its step
    and checkpoints it (benchmark/preemption.py), so the requeued job resumes where the signal came
    (checkpoints are verified on load, and the run ends with the weights of an uninterrupted one);
    other stages start again. A job of several tasks is one data-parallel pretraining run: each task
    learns its rank and the rendezvous from submitit."""

    def __call__(self, fn, *args):
        try:
            env = submitit.JobEnvironment()
        except RuntimeError:  # called outside a submitit job (a test, a debugger): nothing to set up
            return _entry(fn, *args)
        preemption.defer_to_step_boundary(env._usr_sig())  # the signal submitit requeues on (USR2)
        if env.num_tasks > 1:
            # each task picks its GPU by LOCAL_RANK (or cuda:0 where SLURM shows it only its own)
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
            log.info("task %d of %d, rendezvous %s:%s", env.global_rank, env.num_tasks, os.environ["MASTER_ADDR"],
                     os.environ["MASTER_PORT"])
        return _entry(fn, *args)


def _label(cfg: dict) -> str:
    return f"{cfg['method']['name']}/{cfg['task']['name']} seed={cfg['seed']}"


def build_graph(cfgs: list[dict]) -> list[Job]:
    """The jobs of a sweep, in an order that submits every job after the jobs it depends on."""
    pretrain_jobs: dict[str, Job] = {}
    evaluate_jobs, anchor_jobs, seen_runs = [], {}, set()
    for cfg in cfgs:
        record = expected_record_path(cfg)
        for anchor_cfg in anchor_configs(cfg):
            path = expected_record_path(anchor_cfg)
            if path not in anchor_jobs and not path.exists():
                anchor_cfg["skip_existing"] = True  # an anchor is evaluated once per config
                anchor_jobs[path] = Job("anchor", _label(anchor_cfg), evaluate_only, (anchor_cfg,))
        if record in seen_runs:
            continue  # the same run twice in a sweep
        seen_runs.add(record)
        if cfg.get("skip_existing") and record.exists():
            log.info("skip_existing: %s is already recorded in %s", _label(cfg), record)
            continue
        after = []
        weights = pretrained_weights(cfg)
        if weights is not None and not weights.exists():
            h = pretraining_hash(cfg)
            if h not in pretrain_jobs:
                pretrain_jobs[h] = Job("pretrain", f"{cfg['method']['name']}-{h} seed={cfg['seed']}",
                                       pretrain_only, (cfg,))
            after = [pretrain_jobs[h]]
        evaluate_jobs.append(Job("evaluate", _label(cfg), evaluate_only, (cfg,), after=after))
    stages = [*pretrain_jobs.values(), *anchor_jobs.values(), *evaluate_jobs]
    board_after = [j for j in stages if j.kind in ("evaluate", "anchor")]
    board = Job("leaderboard", "refresh the boards", refresh_all_leaderboards, (list(cfgs),), after=board_after,
                condition="afterany")
    return stages + [board]


def cluster_settings(cfgs: list[dict]) -> dict:
    settings = [c.get("cluster") or {"name": "none"} for c in cfgs]
    if any(s != settings[0] for s in settings):
        raise ValueError("a sweep must use one cluster configuration; do not sweep over cluster settings")
    return settings[0]


def _log_root(settings: dict) -> Path:
    return Path(settings.get("log_dir") or "runs/submitit") / time.strftime("%Y-%m-%d_%H-%M-%S")


def _slurm_executor(settings: dict, folder: Path):
    executor = submitit.SlurmExecutor(folder=str(folder / "%j"), max_num_timeout=settings.get("max_num_timeout", 3))
    renamed = {"timeout_min": "time"}  # SlurmExecutor's name
    params = {renamed.get(k, k): settings[k] for k in SLURM_KEYS if settings.get(k) is not None}
    params.pop("mem_gb", None)
    if settings.get("mem_gb") is not None:
        params["mem"] = f"{settings['mem_gb']}GB"
    if settings.get("setup"):
        params["setup"] = list(settings["setup"])
    executor.update_parameters(**params)
    return executor


def _slurm_size(size) -> dict:
    return {"nodes": size.nodes, "ntasks_per_node": size.tasks_per_node, "gpus_per_node": size.gpus_per_node}


def _submit_slurm(jobs: list[Job], settings: dict, folder: Path) -> None:
    executor = _slurm_executor(settings, folder)
    base_extra = dict(settings.get("slurm_additional_parameters") or {})
    for job in jobs:
        extra, dependency = dict(base_extra), None
        if job.after:
            dependency = f"{job.condition}:" + ":".join(dep.job_id for dep in job.after)
            if job.condition == "afterok":
                extra["kill_on_invalid_dep"] = "yes"  # cancelled, not pending forever, when a dependency failed
        executor.update_parameters(job_name=f"ganrep-{job.kind}", dependency=dependency, additional_parameters=extra,
                                   **_slurm_size(job_size(job.kind, settings)))
        job.handle = executor.submit(StageJob(), job.fn, *job.args)


def _local_executor(settings: dict, folder: Path):
    executor = submitit.LocalExecutor(folder=str(folder / "%j"))
    params = {k: settings[k] for k in ("timeout_min", "gpus_per_node") if settings.get(k) is not None}
    if settings.get("visible_gpus") is not None:
        params["visible_gpus"] = tuple(settings["visible_gpus"])
    executor.update_parameters(**params)
    return executor


def _wait(job: Job) -> bool:
    if job.handle is None:  # skipped: a job it depends on failed
        return False
    try:
        job.handle.results()  # every task's (a data-parallel pretraining job has several)
        return True
    except Exception as e:  # noqa: BLE001 - a failed job is reported, the rest of the graph goes on
        log.error("%s job %s (%s) failed: %s", job.kind, job.job_id, job.name, (str(e).strip().splitlines() or [""])[-1])
        print(f"[ganrep] FAILED {job.kind} {job.job_id} {job.name}; log: {job.handle.paths.stderr}")
        return False


def _run_local(jobs: list[Job], settings: dict, folder: Path) -> None:
    """LocalExecutor has no dependencies, so this loop schedules: a job is submitted as soon as every job it
    waits for has ended, whichever ends first (a quick pretraining's evaluations do not wait behind a slow
    one's), at most ``max_parallel`` at once, earlier jobs of the list first; an ``afterok`` job whose
    dependency failed is skipped, as SLURM cancels it. Returns when every job has ended."""
    executor = _local_executor(settings, folder)
    limit = settings.get("max_parallel") or len(jobs)
    waiting, running, succeeded = list(jobs), [], {}  # succeeded: id(job) -> bool, once it has ended
    while waiting or running:
        for job in [j for j in running if j.handle.done()]:
            running.remove(job)
            succeeded[id(job)] = _wait(job)
        for job in list(waiting):
            if any(id(dep) not in succeeded for dep in job.after):
                continue
            if job.condition == "afterok" and not all(succeeded[id(dep)] for dep in job.after):
                waiting.remove(job)
                succeeded[id(job)] = False
                print(f"[ganrep] skipped   {job.kind:<11} {job.name}: a job it depends on failed")
                continue
            if len(running) >= limit:
                break
            executor.update_parameters(tasks_per_node=job_size(job.kind, settings).tasks_per_node)
            job.handle = executor.submit(StageJob(), job.fn, *job.args)
            _print_job(job, folder)
            waiting.remove(job)
            running.append(job)
        time.sleep(0.2)


def _print_job(job: Job, folder: Path) -> None:
    after = f"  --dependency={job.condition}:{':'.join(d.job_id for d in job.after)}" if job.after else ""
    print(f"[ganrep] submitted {job.kind:<11} job {job.job_id:>8}  {job.name}{after}")


def submit_graph(cfgs: list[dict]) -> list[Job]:
    """Submit the sweep's job graph to the configured cluster; returns the jobs (with their submitit handles)."""
    settings = cluster_settings(cfgs)
    kind = settings.get("name", "none")
    jobs = build_graph(cfgs)
    folder = _log_root(settings)
    n_eval = sum(j.kind == "evaluate" for j in jobs)
    print(f"[ganrep] {len(cfgs)} configs -> {sum(j.kind == 'pretrain' for j in jobs)} pretraining, {n_eval} "
          f"evaluation, {sum(j.kind == 'anchor' for j in jobs)} anchor and 1 leaderboard job(s) on cluster={kind}")
    if kind == "slurm":
        _submit_slurm(jobs, settings, folder)
        for job in jobs:
            _print_job(job, folder)
    elif kind == "local":
        _run_local(jobs, settings, folder)
    else:
        raise ValueError(f"cluster={kind!r}: choose none, local or slurm (launch/cluster/)")
    print(f"[ganrep] job logs: {folder}/<job id>/ (submitit's <job id>_0_log.out / .err)")
    return jobs
