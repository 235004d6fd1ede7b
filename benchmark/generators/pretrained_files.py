"""Locating, downloading and safely loading the released weights of the pretrained-GAN adapters.

Used by ``biggan_cifar``, ``autogan_cifar`` and ``biggan_deep``. A generator config names ``checkpoint``
(a local file, used as it is; ``null`` = the download cache
``<paths.artifacts>/generators/downloads/<url host>/<url path>``, the layout the stylegan2ada adapter uses
too, so one artifacts folder holds everything a run needs and can be copied to an offline machine), the
``url`` the file is published at, and optionally its ``sha256``. A missing file is downloaded when
``download`` is true and the URL is a direct file link; otherwise, or when the download fails (no
network), :class:`CheckpointNotFoundError` says which file to put where. Files are read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary pickled objects.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

import torch

from benchmark.errors import RefusedFileError, UserError

log = logging.getLogger(__name__)


class CheckpointNotFoundError(FileNotFoundError, UserError):
    """The weights of a pretrained generator are not on disk (and could not be downloaded)."""


DOWNLOAD_DIR = ("generators", "downloads")  # under paths.artifacts


def download_cache_path(url: str, artifacts_root: Optional[str | Path]) -> Path:
    """Where a download of ``url`` is kept: the URL's host and path under the downloads folder."""
    parsed = urlparse(url)
    parts = [p for p in parsed.path.split("/") if p not in ("", ".", "..")]
    if not parsed.netloc or not parts:
        raise ValueError(f"{url!r} is not the URL of a file")
    return Path(artifacts_root or ".", *DOWNLOAD_DIR, parsed.netloc, *parts)


def checkpoint_path(cfg: dict, artifacts_root: Optional[str | Path], what: str) -> Path:
    """The file a config's ``checkpoint`` names, or (``null``) the download cache of its ``url``."""
    if cfg.get("checkpoint"):
        return Path(cfg["checkpoint"]).expanduser()
    if not cfg.get("url"):
        raise ValueError(f"{what} needs generator.checkpoint (a local file) or generator.url")
    return download_cache_path(cfg["url"], artifacts_root)


def missing_checkpoint_message(what: str, path: Path, url: Optional[str], note: str = "") -> str:
    where = f"download {url} and save it as {path}" if url else f"place the file at {path}"
    msg = f"{what}: no checkpoint at {path}; {where} (or point generator.checkpoint at your copy)."
    return f"{msg} {note}".strip()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dst: Path) -> None:
    """Fetch ``url`` to ``dst`` (torch.hub's downloader: a temporary file, renamed when complete)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dst), progress=False)


def ensure_checkpoint(path: Path, url: Optional[str], sha256: Optional[str], download_missing: bool, what: str,
                      note: str = "") -> tuple[Path, dict]:
    """The checkpoint file (downloaded first when missing and allowed; its sha256 checked when pinned)
    and its provenance for the result record."""
    path = Path(path)
    downloaded = False
    if not path.is_file():
        message = missing_checkpoint_message(what, path.resolve(), url, note)
        if not (download_missing and url):
            raise CheckpointNotFoundError(message)
        log.info("downloading %s from %s to %s", what, url, path)
        try:
            download(url, path)
        except Exception as err:  # no network, 404, ...: say what to do by hand
            raise CheckpointNotFoundError(f"{message} The download failed: {type(err).__name__}: {err}") from err
        downloaded = True
    actual = sha256_of(path)
    if sha256:
        if actual != str(sha256).lower():
            raise ValueError(f"{what}: SHA-256 of {path} is {actual}, expected {sha256} (generator.sha256): "
                             "a different or corrupt file")
    else:
        log.warning("%s: no checksum pinned for %s (generator.sha256 is null); its SHA-256 is %s", what, path, actual)
    return path, {"checkpoint": str(path), "url": url, "sha256": actual, "sha256_pinned": bool(sha256),
                  "downloaded": downloaded}


def _numpy_scalar_globals() -> list:
    """What a training checkpoint with numpy scalars in it (e.g. AutoGAN's ``best_fid``) needs unpickled."""
    import numpy as np

    try:
        scalar = np._core.multiarray.scalar  # numpy >= 2
    except AttributeError:  # pragma: no cover - numpy 1.x
        scalar = np.core.multiarray.scalar
    dtypes = [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32)]
    return [scalar, np.dtype, *dtypes]


def load_weights(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, also accepting numpy scalars in the file; a file
    it refuses or cannot read is a RefusedFileError that names it."""
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            with torch.serialization.safe_globals(_numpy_scalar_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as e:
        raise RefusedFileError(path, f"{type(e).__name__}: {' '.join(str(e).split())[:300]}",
                               "expected a torch.save file of tensors (the published checkpoint)") from e


def strip_prefix(state: dict, prefix: str = "module.") -> dict:
    """Keys without the ``module.`` that ``nn.DataParallel`` adds (when every key has it)."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def truncated_normal(shape, threshold: float = 2.0, generator: Optional[torch.Generator] = None,
                     device=None) -> torch.Tensor:
    """N(0, 1) draws conditioned on ``|x| <= threshold`` (out-of-range entries are redrawn)."""
    x = torch.randn(shape, generator=generator, device=device)
    bad = x.abs() > threshold
    while bad.any():
        x[bad] = torch.randn(int(bad.sum()), generator=generator, device=device)
        bad = x.abs() > threshold
    return x
