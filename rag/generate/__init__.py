"""Text generation: the Generator protocol and its backends.

- `LlamaCppGenerator`: a GGUF model run by llama.cpp (the default, bundled Qwen2.5-Coder-1.5B);
- `TransformersGenerator`: any causal LM transformers can load (Hugging Face id, folder, GGUF);
- `SupervisedGenerator`: either of those two in a worker process whose crash costs one
  answer, never the service (`worker.py`; the worker process runs `serving.py`);
- `OpenAIGenerator`: any OpenAI-compatible chat-completions endpoint;
- `ExtractiveGenerator`: no model, quotes the best-matching passage sentences.

`make_generator` builds one by backend name from settings-style options. Backends are
cheap to construct; models load on first use or in `warm_up()`.

May import: the shared modules, `rag.text` and `rag.models`.
"""

from __future__ import annotations

from typing import Any

from rag.config import BACKEND_OPTIONS, GENERATORS
from rag.errors import ConfigError
from rag.generate.base import (
    ContextOverflowError,
    GenerationError,
    GenerationTimeoutError,
    Generator,
    Message,
    writes,
)
from rag.generate.extractive import REFUSAL, ExtractiveGenerator, parse_passage_block
from rag.generate.hf import TransformersGenerator
from rag.generate.llamacpp import LlamaCppGenerator
from rag.generate.local import LOCAL_BACKENDS, local_generator
from rag.generate.openai_compat import OpenAIGenerator
from rag.generate.worker import ModelCrashedError, ModelUnavailableError, SupervisedGenerator

__all__ = [
    "BACKENDS",
    "REFUSAL",
    "ContextOverflowError",
    "ExtractiveGenerator",
    "GenerationError",
    "GenerationTimeoutError",
    "LOCAL_BACKENDS",
    "Generator",
    "LlamaCppGenerator",
    "Message",
    "ModelCrashedError",
    "ModelUnavailableError",
    "OpenAIGenerator",
    "SupervisedGenerator",
    "TransformersGenerator",
    "make_generator",
    "parse_passage_block",
    "writes",
]

BACKENDS = GENERATORS


def make_generator(name: str = "llama.cpp", *, worker: bool = True, **options: Any) -> Generator:
    """A generator for backend `name` (see `BACKENDS`), configured by `options`.

    A local model (`LOCAL_BACKENDS`) runs in a supervised worker process unless `worker`
    is False. Options whose value is None are dropped, so unset settings fall back to each
    backend's defaults. Raises ConfigError for an unknown backend, an option the backend
    does not take, or a missing required one (``model`` for transformers, ``base_url``
    and ``model`` for openai). Nothing is loaded here.
    """
    if name not in BACKEND_OPTIONS:
        raise ConfigError(f"unknown generator backend {name!r} (known: {', '.join(BACKENDS)})")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = set(given) - BACKEND_OPTIONS[name]
    if unknown:
        raise ConfigError(
            f"generator backend {name!r} does not take {', '.join(sorted(unknown))} "
            f"(it takes {', '.join(sorted(BACKEND_OPTIONS[name]))})"
        )
    if name in LOCAL_BACKENDS:
        local = local_generator(name, given)
        return SupervisedGenerator(name, given, local) if worker else local
    if name == "openai":
        missing = [k for k in ("base_url", "model") if k not in given]
        if missing:
            raise ConfigError(f"generator backend 'openai' needs {' and '.join(missing)}")
        return OpenAIGenerator(**given)
    return ExtractiveGenerator(**given)
