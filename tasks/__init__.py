"""Built-in evaluation tasks; importing this package registers them."""
from tasks import linear  # noqa: F401
from tasks import probe  # noqa: F401
from tasks import detection  # noqa: F401
from tasks import segmentation  # noqa: F401
from tasks import normals  # noqa: F401
