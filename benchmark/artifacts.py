"""Content-addressed artifacts (trained GANs, pretrained backbones), atomic writes, and the lock that lets
one of several concurrent jobs build an artifact.

An artifact lives in ``<root>/<kind>/<name>-<hash>/`` where the hash is taken over the config that
produced it, so a run with the same config finds and reuses it, and a changed config never does. What the
suite caches and later trusts is written and read through ``benchmark/verified_artifacts.py`` (a sha256
sidecar beside each file).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any


log = logging.getLogger(__name__)


def config_hash(config: Any, length: int = 12) -> str:
    """Stable hash of a JSON-serialisable config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def fsync_dir(directory: Path) -> None:
    """fsync a folder, so that a rename inside it is durable (where the file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)  # makes the rename itself durable
    except OSError:
        pass
    finally:
        os.close(fd)


def write_temp(path: Path, write) -> str:
    """Write to a fresh temp file beside ``path`` (unique per process and call), fsync it; returns its name."""
    path.parent.mkdir(parents=True, exist_ok=True)  # exist_ok: several processes may create it at once
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return tmp


def atomic_write(path: Path, write, previous: Path | None = None) -> None:
    """Replace ``path`` atomically: readers see the old file or the new one, never half of either, and
    never no file. With ``previous``, the file being replaced is kept under that name first (one level of
    history), through a hard link, so ``path`` stays in place until the new file replaces it (where hard
    links are refused, it is moved there, as a brief gap a reader falls back over)."""
    path = Path(path)
    tmp = write_temp(path, write)
    try:
        if previous is not None:
            _keep_as_previous(path, Path(previous))
        os.replace(tmp, path)  # atomic on POSIX
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _keep_as_previous(path: Path, previous: Path) -> None:
    """``previous`` becomes (atomically) a copy of the current ``path``, if there is one."""
    fd, link = tempfile.mkstemp(dir=previous.parent, prefix=f".{previous.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    os.unlink(link)  # a free name beside previous, for the link
    try:
        try:
            os.link(path, link)
        except FileNotFoundError:
            return  # nothing to keep: the first write, or another writer's rename in between
        except OSError:  # no hard links here (the file system, or protected_hardlinks): move it instead,
            os.replace(path, previous)  # leaving no file at path until the new one replaces it
            return
        os.replace(link, previous)
    except FileNotFoundError:
        return
    finally:
        if os.path.exists(link):
            os.unlink(link)


def save_figure(fig, path: Path) -> None:
    """A matplotlib figure as a png written atomically (several runs may refresh one board at once),
    then closed."""
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda f: fig.savefig(f, dpi=100, format="png"))
    finally:
        plt.close(fig)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def artifact_dir(root: str | Path, kind: str, name: str, config: Any) -> Path:
    return Path(root) / kind / f"{name}-{config_hash(config)}"


def _try_lock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@contextlib.contextmanager
def exclusive(path: Path, note_every: float = 60.0, poll: float = 0.5):
    """Hold an exclusive lock on ``<path>.lock`` (flock: released if the holder dies) while building the
    artifact at ``path``: one of several concurrent jobs builds it, the others wait and then reuse it.
    The holder writes who it is and since when into the lock file; a waiter says so, and how long it has
    waited, when it starts waiting and every ``note_every`` seconds after (a silent wait reads as a hang)."""
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        if not _try_lock(handle):
            started, next_note = time.monotonic(), 0.0
            while not _try_lock(handle):
                waited = time.monotonic() - started
                if waited >= next_note:
                    handle.seek(0)
                    holder = handle.read().strip() or "another run"
                    log.warning("waiting for %s (holding the lock) to finish building %s; waited %.0f s so far",
                                holder, path, waited)
                    next_note += note_every
                time.sleep(poll)
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
