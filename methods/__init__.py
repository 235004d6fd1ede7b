"""Built-in method plugins, one per file; importing this package registers them."""
from methods import (  # noqa: F401
    anchors,
    discriminator_features,
    latent_encoding,
    simsiam,
    squeeze_and_span,
    vanilla_distillation,
    vicreg,
)
