"""GANRep Bench's one entry point: pretrain -> evaluate -> record -> leaderboard.

    python launch.py                                   # the default experiment (sqsp, embedded preset)
    python launch.py method=squeeze task=linear_fmnist
    python launch.py -m method=sqsp,squeeze seed=0,1,2 # a sweep
    python launch.py --cfg job                         # print the composed config
    python launch.py -m method=sqsp,vicreg seed=0,1 cluster=slurm  # the sweep as a SLURM job graph

Config groups live in launch/: method, generator, data, task, preset, cluster.

A single run that fails on bad input or missing data prints a one-line error and exits with 2; any other
failure keeps its traceback (exit 1). In a sweep run in this process (-m, cluster=none) a failed job does
not stop the sweep: its one-line error goes to stderr as it fails, its traceback to its log file
(<sweep dir>/<job>/launch.log), and once the sweep is done a summary names the failed jobs and the
process exits with 1.

With cluster=local or cluster=slurm, main() runs nothing: Hydra expands the sweep as usual (command-line
sweeps and experiment= sweeps alike) and calls main() once per config, which only keeps the resolved
config; once Hydra is done, the collected configs are submitted as one job graph (benchmark/orchestration/cluster.py),
so that pretraining is deduplicated across the whole sweep and the leaderboard job waits for all of it.
"""
import logging
import sys
from dataclasses import dataclass

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from benchmark.data.errors import DatasetNotFoundError
from benchmark.orchestration.pipeline import run_experiment
from benchmark.orchestration.plugin_configs import register_plugin_configs
from benchmark.registry import UnknownPluginError

log = logging.getLogger("launch")
BAD_INPUT = (DatasetNotFoundError, UnknownPluginError, ValueError)  # reported as a message, not a traceback
COLLECTED: list = []  # with cluster != none: the sweep's resolved configs, submitted after Hydra is done


@dataclass
class SweepJob:
    num: int
    overrides: list  # the job's command-line overrides (hydra.* ones excluded), as Hydra lists them
    label: str       # "method / task"
    error: str = ""  # when the job failed: the exception's type, then ": " and its message on one line


SWEEP: list = []  # with -m and cluster=none: every job run so far, for the summary at the end


@hydra.main(config_path="launch", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if cfg.get("cluster") and cfg.cluster.name != "none":
        COLLECTED.append(OmegaConf.to_container(cfg, resolve=True))  # resolved now, where Hydra's resolvers work
        return
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        run_sweep_job(cfg)
        return
    try:
        run_experiment(cfg)
    except BAD_INPUT as e:
        log.error("%s", e)  # a clear message instead of a traceback for bad input or missing data
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def run_sweep_job(cfg: DictConfig) -> None:
    """One job of an in-process sweep; a failure is reported and recorded, never raised.

    Hydra's basic launcher cannot be left to report it: an exception is kept in the job's JobReturn
    without being logged, and raised only once every job of the sweep has run, and only the first one;
    a SystemExit (sys.exit(2) above) is not an Exception, so it escapes Hydra's job runner and ends the
    whole sweep at once, before the failures kept so far are ever raised. Either way a failed job left
    nothing in its log file."""
    hydra_cfg = HydraConfig.get()
    job = SweepJob(hydra_cfg.job.num, list(hydra_cfg.overrides.task), f"{cfg.method.name} / {cfg.task.name}")
    SWEEP.append(job)
    try:
        run_experiment(cfg)
    except Exception as e:  # KeyboardInterrupt and the like still stop the sweep
        job.error = f"{type(e).__name__}: {' '.join(str(e).split())}"  # one line, whatever the message
        line = f"job #{job.num} ({job.label}) failed: {job.error} [overrides: {' '.join(job.overrides)}]"
        log_file = log_traceback(line)
        print(f"error: {line}" + (f"; traceback in {log_file}" if log_file else ""), file=sys.stderr, flush=True)


def log_traceback(line: str) -> str | None:
    """Log the error line with the current traceback to the job's log file(s); returns the file's path.

    Only the file handlers get the traceback: the console has the one-line error on stderr, so that a
    sweep with many failed jobs stays readable. Where a logging config has no file handler, every
    handler gets it rather than nothing."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, line, (), sys.exc_info())
    handlers = logging.getLogger().handlers
    files = [h for h in handlers if isinstance(h, logging.FileHandler)]
    for handler in files or handlers:
        handler.handle(record)
    return files[0].baseFilename if files else None


def report_sweep() -> None:
    """After an in-process sweep: one line naming the failed jobs, and exit 1 if there are any."""
    failed = [job for job in SWEEP if job.error]
    if not failed:
        return
    # a failed job is named by the overrides that tell it apart from the sweep's other jobs
    common = set.intersection(*(set(job.overrides) for job in SWEEP))
    names = [f"#{job.num} ({' '.join(o for o in job.overrides if o not in common) or job.label}: "
             f"{job.error.partition(':')[0]})" for job in failed]
    print(f"error: {len(failed)} of {len(SWEEP)} jobs of the sweep failed: {', '.join(names)}; "
          "each one's traceback is in its log file", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    register_plugin_configs()
    main()
    report_sweep()
    if COLLECTED:
        from benchmark.orchestration.cluster import submit_graph

        try:
            submit_graph(COLLECTED)
        except BAD_INPUT as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
