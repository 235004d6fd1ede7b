"""GANRep Bench's one entry point: pretrain -> evaluate -> record -> leaderboard.

    python launch.py                                   # the default experiment (sqsp, embedded preset)
    python launch.py method=squeeze task=linear_fmnist
    python launch.py -m method=sqsp,squeeze seed=0,1,2 # a sweep
    python launch.py --cfg job                         # print the composed config

Config groups live in launch/: method, generator, data, task, preset.
"""
import logging
import sys

import hydra
from omegaconf import DictConfig

from benchmark.data.errors import DatasetNotFoundError
from benchmark.experiment import run_experiment
from benchmark.plugin_configs import register_plugin_configs
from benchmark.registry import UnknownPluginError

log = logging.getLogger("launch")


@hydra.main(config_path="launch", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        run_experiment(cfg)
    except (DatasetNotFoundError, UnknownPluginError, ValueError) as e:
        log.error("%s", e)  # a clear message instead of a traceback for bad input or missing data
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    register_plugin_configs()
    main()
