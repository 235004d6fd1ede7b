"""GANRep Bench core: interfaces, registries, data, generators, engine, results and leaderboards."""
