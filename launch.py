"""GANRep Bench's one entry point: pretrain -> evaluate -> record -> leaderboard.

    python launch.py                                   # the default experiment (sqsp, embedded preset)
    python launch.py method=squeeze task=linear_fmnist
    python launch.py -m method=sqsp,squeeze seed=0,1,2 # a sweep
    python launch.py --cfg job                         # print the composed config
    python launch.py -m method=sqsp,vicreg seed=0,1 cluster=slurm  # the sweep as a SLURM job graph

Config groups live in launch/: method, generator, data, task, preset, cluster.

With cluster=local or cluster=slurm, main() runs nothing: Hydra expands the sweep as usual (command-line
sweeps and experiment= sweeps alike) and calls main() once per config, which only keeps the resolved
config; once Hydra is done, the collected configs are submitted as one job graph (benchmark/cluster.py),
so that pretraining is deduplicated across the whole sweep and the leaderboard job waits for all of it.
"""
import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from benchmark.data.errors import DatasetNotFoundError
from benchmark.experiment import run_experiment
from benchmark.plugin_configs import register_plugin_configs
from benchmark.registry import UnknownPluginError

log = logging.getLogger("launch")
COLLECTED: list = []  # with cluster != none: the sweep's resolved configs, submitted after Hydra is done


@hydra.main(config_path="launch", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if cfg.get("cluster") and cfg.cluster.name != "none":
        COLLECTED.append(OmegaConf.to_container(cfg, resolve=True))  # resolved now, where Hydra's resolvers work
        return
    try:
        run_experiment(cfg)
    except (DatasetNotFoundError, UnknownPluginError, ValueError) as e:
        log.error("%s", e)  # a clear message instead of a traceback for bad input or missing data
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    register_plugin_configs()
    main()
    if COLLECTED:
        from benchmark.cluster import submit_graph

        try:
            submit_graph(COLLECTED)
        except (DatasetNotFoundError, UnknownPluginError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
