"""The backends whose model runs on this machine, built by name: in this process, or
inside the model's worker process (`worker.py`)."""

from __future__ import annotations

from typing import Any

from rag.errors import ConfigError
from rag.generate.hf import TransformersGenerator
from rag.generate.llamacpp import LlamaCppGenerator

# Backends whose native code runs on this machine: by default in a worker process.
LOCAL_BACKENDS = ("llama.cpp", "transformers")


def local_generator(name: str, options: dict[str, Any]) -> LlamaCppGenerator | TransformersGenerator:
    """The in-process generator of local backend `name` with `options` (nothing loaded)."""
    if name == "llama.cpp":
        return LlamaCppGenerator(**options)
    if name != "transformers":
        raise ConfigError(f"{name!r} is not a local generator backend ({', '.join(LOCAL_BACKENDS)})")
    if "model" not in options:
        raise ConfigError("generator backend 'transformers' needs a model")
    return TransformersGenerator(**options)
