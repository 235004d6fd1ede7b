"""How does one config become a result? ``pipeline.py`` (build -> pretrain or reuse -> evaluate -> record ->
leaderboards), ``identity.py`` (the hashes that name weights and records), ``anchors.py`` (the reference rows
run beside a method), ``stages.py`` (the pipeline cut into cluster jobs), ``cluster.py`` (a sweep as a
submitit job graph), ``resources.py`` (the size of each kind of job), ``plugin_configs.py`` (Hydra nodes for
plugins without a yaml)."""
