"""Generator adapters, built by name from the ``generator`` config section."""
from benchmark.generators import small_gan_zoo  # noqa: F401  (registers "small_gan")
from benchmark.generators import stylegan2ada_zoo  # noqa: F401  (registers "stylegan2ada")
from benchmark.generators import styleganxl_zoo  # noqa: F401  (registers "styleganxl")
from benchmark.generators import autogan_cifar, biggan_cifar, biggan_deep  # noqa: F401  (autogan_cifar10, biggan_*)
from omegaconf import OmegaConf

from benchmark.registry import GENERATORS


def build_generator(generator_cfg, data_cfg, artifacts_root: str, device):
    """The frozen generator of the config (trained and cached first where the suite trains it)."""
    # plain values: a Hydra node would hash otherwise than the pipeline's dict, and miss the cached GAN
    cfg = OmegaConf.to_container(generator_cfg, resolve=True) if OmegaConf.is_config(generator_cfg) else dict(generator_cfg)
    data_cfg = OmegaConf.to_container(data_cfg, resolve=True) if OmegaConf.is_config(data_cfg) else data_cfg
    return GENERATORS.get(cfg.pop("name"))(cfg, data_cfg=data_cfg, artifacts_root=artifacts_root, device=device)
