"""Built-in method plugins; importing this package registers them."""
from methods import anchors, squeeze_and_span  # noqa: F401
