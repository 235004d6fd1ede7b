"""Verified artifacts: what the suite caches and later trusts (``method.pt``, ``gan.pt``, frozen-feature
caches, the NYUv2 normals cache) carries a sha256 sidecar ``<name>.sha256``, so a truncated or altered file is
found, set aside and rebuilt instead of being trusted or failing deep inside ``torch.load`` without naming
the file.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from benchmark.artifacts import atomic_write_text, fsync_dir, write_temp


log = logging.getLogger(__name__)

#
# A verified artifact is a file plus a sidecar ``<name>.sha256`` in ``sha256sum`` format, with its size on a
# comment line (``cd <folder> && sha256sum -c --strict method.pt.sha256`` checks it by hand):
#
#     # size: 1048576 bytes; written by ganrep-bench (benchmark/verified_artifacts.py)
#     <64 hex digits>  method.pt
#
# A sidecar, not a header inside the file (as checkpoints.py does), so that ``method.pt`` stays a plain
# ``torch.save`` file that users load with ``torch.load``. The sidecar is replaced BEFORE the payload: a
# crash between the two leaves a sidecar that does not match (or no payload), which is rebuilt, and never a
# payload that is trusted without a digest.
#
# Files without a sidecar were written before artifacts carried digests. Policy (``legacy``):
#   "adopt"  (the suite's own caches): accepted once, with a warning, if they load; their digest is recorded
#            then, so every later read verifies them. Retraining every cached backbone and GAN once, only
#            because the suite learned to verify them, would cost hours; a legacy file that does not load is
#            damaged like any other.
#   "trust"  (a file a user hands in, e.g. to ``benchmark.export``): read with a warning, nothing written.
#   "reject": a missing sidecar is damage.

DIGEST_SUFFIX = ".sha256"
LEGACY_POLICIES = ("adopt", "trust", "reject")
_SIDECAR_DIGEST = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_SIDECAR_SIZE = re.compile(r"^# size: (\d+) bytes")


class DamagedArtifactError(Exception):
    """A cached artifact that must not be trusted. ``path`` is the file, ``reason`` what is wrong with it:
    missing, a size or sha256 other than its sidecar's, an unreadable sidecar, or a payload that does not
    load. The message names both, so the user knows which file to look at."""

    def __init__(self, path: Path | str, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{self.path}: {reason}")


def digest_path(path: Path | str) -> Path:
    """The sidecar of ``path``: ``<name>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + DIGEST_SUFFIX)


def file_sha256(path: Path | str, chunk: int = 1 << 22) -> tuple[str, int]:
    """(sha256 hex digest, size in bytes) of a file, read in 4 MiB chunks (memory stays flat for any size)."""
    with open(path, "rb") as f:
        return _stream_sha256(f, chunk)


def _stream_sha256(f, chunk: int = 1 << 22) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: f.read(chunk), b""):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def _sidecar_text(name: str, digest: str, size: int) -> str:
    return (f"# size: {size} bytes; written by ganrep-bench (benchmark/verified_artifacts.py)\n"
            f"{digest}  {name}\n")


def write_sidecar(path: Path | str, digest: Optional[str] = None, size: Optional[int] = None) -> str:
    """Write (atomically) the sidecar of ``path`` with ``digest`` and ``size``, or with the file's own when
    they are not given (a file written by other means, e.g. a numpy memmap, or a legacy one being adopted);
    returns the digest."""
    path = Path(path)
    if digest is None:
        digest, size = file_sha256(path)
    atomic_write_text(digest_path(path), _sidecar_text(path.name, digest, size))
    return digest


def read_sidecar(path: Path | str) -> Optional[tuple[str, Optional[int]]]:
    """(digest, size or None) that the sidecar of ``path`` records; None when there is no sidecar. Raises
    DamagedArtifactError (naming ``path``) when the sidecar is there but is not one."""
    sidecar = digest_path(path)
    try:
        text = sidecar.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise DamagedArtifactError(path, f"its sidecar {sidecar.name} is unreadable ({e})") from e
    digests = [m.group(1) for line in text.splitlines() if (m := _SIDECAR_DIGEST.match(line))]
    sizes = [int(m.group(1)) for line in text.splitlines() if (m := _SIDECAR_SIZE.match(line))]
    if len(digests) != 1:
        raise DamagedArtifactError(path, f"its sidecar {sidecar.name} is unreadable (no single sha256 line)")
    return digests[0], (sizes[0] if sizes else None)


def _check_open_file(path: Path, f, recorded: tuple[str, Optional[int]]) -> None:
    """Raise DamagedArtifactError when the open file ``f`` does not have the recorded size and digest."""
    expected_digest, expected_size = recorded
    size = os.fstat(f.fileno()).st_size
    if expected_size is not None and size != expected_size:
        raise DamagedArtifactError(path, f"size mismatch: {size} bytes, its sidecar {digest_path(path).name} "
                                         f"records {expected_size} (truncated or appended to)")
    f.seek(0)
    digest, _ = _stream_sha256(f)
    if digest != expected_digest:
        raise DamagedArtifactError(path, f"sha256 mismatch: the file hashes to {digest[:16]}..., its sidecar "
                                         f"{digest_path(path).name} records {expected_digest[:16]}... (altered)")


def _open_and_check(path: Path, use: Callable[[Any], Any], legacy: str) -> tuple[Any, bool]:
    """Open ``path`` once, verify it against its sidecar, then hand the same open file to ``use`` (no window
    in which another file could take its place); returns (what ``use`` returned, whether a sidecar was there).
    A verification that fails while the sidecar changed under it (another process writing the same artifact)
    is tried once more before the file is called damaged."""
    if legacy not in LEGACY_POLICIES:
        raise ValueError(f"legacy={legacy!r}; valid: {', '.join(LEGACY_POLICIES)}")
    for attempt in range(2):
        recorded = read_sidecar(path)
        if recorded is None and legacy == "reject":
            raise DamagedArtifactError(path, f"no sidecar {digest_path(path).name} (its digest is unknown)")
        try:
            f = open(path, "rb")
        except FileNotFoundError as e:
            raise DamagedArtifactError(path, "missing") from e
        except OSError as e:
            raise DamagedArtifactError(path, f"unreadable ({e})") from e
        with f:
            if recorded is not None:
                try:
                    _check_open_file(path, f, recorded)
                except DamagedArtifactError:
                    if attempt == 0 and read_sidecar(path) != recorded:
                        continue
                    raise
                f.seek(0)
            try:
                return use(f), recorded is not None
            except Exception as e:  # noqa: BLE001 - whatever the reader raises, the file is unusable
                raise DamagedArtifactError(path, f"unreadable ({type(e).__name__}: {e})") from e
    raise AssertionError("unreachable")


def _note_legacy(path: Path, legacy: str) -> None:
    """A file without a sidecar that did load: warn, and under "adopt" record its digest now."""
    sidecar = digest_path(path)
    if legacy == "trust":
        log.warning("%s has no sha256 sidecar (%s): read without verification", path, sidecar.name)
        return
    try:
        write_sidecar(path)
    except OSError as e:  # a read-only artifacts folder: still usable, but checked at no later read either
        log.warning("%s has no sha256 sidecar (written before artifacts carried digests): accepted unverified; "
                    "its sha256 could not be recorded in %s (%s)", path, sidecar.name, e)
        return
    log.warning("%s has no sha256 sidecar (written before artifacts carried digests): accepted once; its sha256 "
                "is now recorded in %s, which every later read verifies", path, sidecar.name)


def _torch_load_cpu(f) -> Any:
    return torch.load(f, map_location="cpu")


def load_verified(path: Path | str, legacy: str = "adopt", load: Callable[[Any], Any] = _torch_load_cpu) -> Any:
    """``torch.load`` (on the CPU; ``load`` takes the open file otherwise) of a file verified against its
    sidecar. Raises DamagedArtifactError when it is missing, differs from its sidecar (size, sha256), has an
    unreadable sidecar, or does not load; a file without a sidecar follows ``legacy`` (see above; under
    "adopt" its digest is recorded only after it loaded, so a damaged legacy file is never adopted)."""
    path = Path(path)
    obj, had_sidecar = _open_and_check(path, load, legacy)
    if not had_sidecar:
        _note_legacy(path, legacy)
    return obj


def write_verified(path: Path | str, write: Callable[[Any], None]) -> str:
    """``atomic_write`` with a sidecar: the payload is written to a temp file and fsynced, its sha256 taken
    from what is on disk, the sidecar replaced, and only then the payload (a crash in between leaves a
    mismatch, i.e. a rebuild, never an unverified file that is trusted). Returns the digest."""
    path = Path(path)
    tmp = write_temp(path, write)
    try:
        digest, size = file_sha256(tmp)
        write_sidecar(path, digest, size)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return digest


def save_verified(obj: Any, path: Path | str) -> str:
    """``torch.save`` ``obj`` to ``path`` atomically, with its sha256 sidecar (``write_verified``); the file
    itself stays a plain ``torch.save`` file. Returns the digest."""
    return write_verified(path, lambda f: torch.save(obj, f))


def set_aside(path: Path | str) -> Optional[Path]:
    """Rename ``path`` and its sidecar to ``<name>.damaged-<UTC time>`` (and ``<that>.sha256``) so it is
    rebuilt; never deleted: it is the evidence of what went wrong, and the only copy should the check itself
    be at fault. Returns the new path, or None when the file was gone already (another process set it
    aside first, or it never was written)."""
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target, n = path.with_name(f"{path.name}.damaged-{stamp}"), 1
    while target.exists() or digest_path(target).exists():
        target, n = path.with_name(f"{path.name}.damaged-{stamp}-{n}"), n + 1
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None  # its sidecar is left to whoever moved it (or to the rebuild, which replaces it)
    try:
        os.rename(digest_path(path), digest_path(target))
    except FileNotFoundError:
        pass  # a legacy file, or a sidecar already moved
    fsync_dir(path.parent)
    return target


def set_aside_damaged(error: DamagedArtifactError, what: str, rebuild: str) -> Optional[Path]:
    """Warn that the ``what`` at ``error.path`` is damaged and why, set it aside, and say what happens
    instead (``rebuild``); returns where it went (None: already gone)."""
    moved = set_aside(error.path)
    where = f"moved aside to {moved.name}" if moved else "already moved aside by another process"
    log.warning("damaged %s %s (%s): %s; %s", what, error.path, error.reason, where, rebuild)
    return moved


def load_or_set_aside(path: Path | str, what: str, rebuild: str, legacy: str = "adopt",
                      load: Callable[[Any], Any] = _torch_load_cpu) -> Any:
    """The verified artifact at ``path`` (``load_verified``), or None when there is none to trust: missing
    (nothing said), or damaged (``set_aside_damaged``: warned, renamed aside) so that the caller rebuilds
    it. ``what`` names the artifact in the warning ("pretrained weights"), ``rebuild`` what the caller
    does instead ("pretraining again")."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return load_verified(path, legacy, load)
    except DamagedArtifactError as e:
        set_aside_damaged(e, what, rebuild)
        return None
