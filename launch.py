"""GANRep Bench's one entry point: pretrain -> evaluate -> record -> leaderboard.

    python launch.py                                   # the default experiment (sqsp, embedded preset)
    python launch.py method=squeeze task=linear_fmnist
    python launch.py -m method=sqsp,squeeze seed=0,1,2 # a sweep
    python launch.py row=ssl_sqsp seeds=5               # seeds 0..4 of one config, reusing the records that exist
    python launch.py --cfg job                         # print the composed config
    python launch.py -m method=sqsp,vicreg seed=0,1 cluster=slurm  # the sweep as a SLURM job graph

Config groups live in launch/: method, generator, data, task, preset, cluster.

Bad input (a config value, a missing or damaged file, a device this machine lacks) exits with 2 and one
block of text that names each bad key, its value and what is valid; the whole config is checked before
any data, GAN or pretraining work (benchmark/orchestration/validation.py), so such a failure takes
seconds and writes no record. Any other failure exits with 1 and one line. Tracebacks go to the run's log
file (runs/<date>/<time>_<method>_<task>/launch.log); `--debug` (anywhere on the command line) prints them.
In a sweep run in this process (-m, cluster=none) a failed job does not stop the sweep: its error goes to
stderr as it fails, its traceback to its log file (<sweep dir>/<job>/launch.log), and once the sweep is
done a summary names the failed jobs and the process exits with 2 if every failure was bad input, else 1.

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

from benchmark.errors import UserError
from benchmark.orchestration.plugin_configs import register_plugin_configs
from benchmark.orchestration.validation import validate_config

log = logging.getLogger("launch")
# reported as a message, not a traceback: bad input (UserError: a config value, a missing dataset, an unknown
# plugin, a refused file) and the ValueErrors that code raises for a value it cannot use
BAD_INPUT = (UserError, ValueError)
BAD_INPUT_EXIT, FAILURE_EXIT = 2, 1
DEBUG = False     # --debug: tracebacks printed, not only logged
ENTERED = False   # set once Hydra has composed a config and called main(): an exit before it is Hydra's
COLLECTED: list = []  # with cluster != none: the sweep's resolved configs, submitted after Hydra is done


@dataclass
class SweepJob:
    num: int
    overrides: list  # the job's command-line overrides (hydra.* ones excluded), as Hydra lists them
    label: str       # "method / task"
    error: str = ""  # when the job failed: the exception's type, then ": " and its message on one line
    bad_input: bool = False  # the failure was bad input (exit 2 when every failure of the sweep is)


SWEEP: list = []  # with -m and cluster=none: every job run so far, for the summary at the end


@hydra.main(config_path="launch", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    global ENTERED
    ENTERED = True
    if cfg.get("cluster") and cfg.cluster.name != "none":
        resolved = OmegaConf.to_container(cfg, resolve=True)  # resolved now, where Hydra's resolvers work
        try:
            validate_config(resolved)  # the whole sweep is checked before anything is submitted
        except UserError as e:
            overrides = " ".join(HydraConfig.get().overrides.task)
            fail(e, BAD_INPUT_EXIT, f" [overrides: {overrides}]; nothing was submitted" if overrides else "")
        COLLECTED.append(resolved)
        return
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        run_sweep_job(cfg)
        return
    try:
        validate_then_run(cfg)
    except BAD_INPUT as e:
        fail(e, BAD_INPUT_EXIT)
    except Exception as e:  # noqa: BLE001 - reported in one line; the traceback goes to the log file
        fail(e, FAILURE_EXIT)


def validate_then_run(cfg: DictConfig) -> None:
    """Validate the config, then import and run the pipeline: a config that cannot run is reported before the
    imports only a run needs (the data loaders, the leaderboards' pandas)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    validate_config(resolved)
    if (resolved.get("analysis") or {}).get("name"):  # an analysis of the generator: nothing is pretrained
        from benchmark.orchestration.analysis_stage import run_analysis

        run_analysis(resolved)
        return
    from benchmark.orchestration.pipeline import run_experiment

    run_experiment(cfg)


def fail(error: BaseException, code: int, context: str = "") -> None:
    """Report ``error`` on stderr and exit with ``code``: its message for bad input, one line naming the
    exception otherwise; the traceback goes to the log file (and to stderr with --debug)."""
    if code == BAD_INPUT_EXIT:
        message = f"error: {error}{context}"
    else:
        message = f"error: the run failed with {type(error).__name__}: {' '.join(str(error).split())}{context}"
    log_file = log_traceback(message)
    if DEBUG:
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    elif code != BAD_INPUT_EXIT:  # bad input is told by its message; a failure's traceback may matter
        message += (f"\n(the traceback is in {log_file}; " if log_file else "\n(") + "rerun with --debug to print it)"
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


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
        validate_then_run(cfg)
    except Exception as e:  # KeyboardInterrupt and the like still stop the sweep
        job.error = f"{type(e).__name__}: {' '.join(str(e).split())}"  # one line, whatever the message
        job.bad_input = isinstance(e, BAD_INPUT)
        line = f"job #{job.num} ({job.label}) failed: {job.error} [overrides: {' '.join(job.overrides)}]"
        log_file = log_traceback(line)
        print(f"error: {line}" + (f"; traceback in {log_file}" if log_file else ""), file=sys.stderr, flush=True)
        if DEBUG:
            import traceback

            traceback.print_exc()


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
    """After an in-process sweep: one line naming the failed jobs, and exit 2 if each failed on bad input,
    1 if any failed otherwise."""
    failed = [job for job in SWEEP if job.error]
    if not failed:
        return
    # a failed job is named by the overrides that tell it apart from the sweep's other jobs
    common = set.intersection(*(set(job.overrides) for job in SWEEP))
    names = [f"#{job.num} ({' '.join(o for o in job.overrides if o not in common) or job.label}: "
             f"{job.error.partition(':')[0]})" for job in failed]
    print(f"error: {len(failed)} of {len(SWEEP)} jobs of the sweep failed: {', '.join(names)}; "
          "each one's traceback is in its log file", file=sys.stderr)
    sys.exit(BAD_INPUT_EXIT if all(job.bad_input for job in failed) else FAILURE_EXIT)


def expand_seeds(argv: list[str]) -> list[str]:
    """``seeds=N`` (not a config key: a shortcut) -> a sweep over seeds 0..N-1 that reuses what exists:
    ``-m seed=0,..,N-1 skip_existing=true``. So ``seeds=3`` then ``seeds=5`` runs seeds 3 and 4 only."""
    given = [a for a in argv[1:] if a.startswith("seeds=")]
    if not given:
        return argv
    value = given[-1].split("=", 1)[1]
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"seeds: {value!r} is not valid; must be an integer >= 1 (runs seeds 0 .. seeds-1)")
    if any(a.startswith(("seed=", "+seed=")) for a in argv[1:]):
        raise UserError("seeds= and seed= cannot both be given: seeds=N runs seed=0,..,N-1; for other seeds "
                        "give them as a sweep, -m seed=3,7")
    rest = [a for a in argv[1:] if not a.startswith("seeds=")]
    flags = [] if any(a in ("-m", "--multirun") for a in rest) else ["-m"]
    reuse = [] if any(a.startswith("skip_existing=") for a in rest) else ["skip_existing=true"]
    return [argv[0], *flags, *rest, f"seed={','.join(str(i) for i in range(int(value)))}", *reuse]


def launch() -> None:
    """Hydra's main, then the sweep's summary or the job graph's submission."""
    global DEBUG
    DEBUG = "--debug" in sys.argv[1:]
    sys.argv = [a for a in sys.argv if a != "--debug"]  # not a Hydra flag
    try:
        sys.argv = expand_seeds(sys.argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(BAD_INPUT_EXIT)
    register_plugin_configs()
    try:
        main()
    except SystemExit as e:
        # Hydra has printed why it could not compose the config (an unknown group option, a key that does not
        # exist, an override it cannot parse) and exits with 1: that is bad input on the command line
        if e.code == 1 and not ENTERED:
            sys.exit(BAD_INPUT_EXIT)
        raise
    except Exception as e:  # noqa: BLE001 - Hydra refusing the flags themselves (e.g. -m with --cfg)
        if ENTERED or DEBUG:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(BAD_INPUT_EXIT)
    report_sweep()
    if COLLECTED:
        from benchmark.orchestration.cluster import submit_graph

        try:
            submit_graph(COLLECTED)
        except BAD_INPUT as e:
            fail(e, BAD_INPUT_EXIT)


if __name__ == "__main__":
    launch()
