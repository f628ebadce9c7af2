"""Text generation: the Generator protocol and its backends.

- `LlamaCppGenerator`: a GGUF model in-process (the default, bundled Qwen2.5-Coder-1.5B);
- `TransformersGenerator`: any causal LM transformers can load (Hugging Face id, folder, GGUF);
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
)
from rag.generate.extractive import REFUSAL, ExtractiveGenerator, parse_passage_block
from rag.generate.hf import TransformersGenerator
from rag.generate.llamacpp import LlamaCppGenerator
from rag.generate.openai_compat import OpenAIGenerator

__all__ = [
    "BACKENDS",
    "REFUSAL",
    "ContextOverflowError",
    "ExtractiveGenerator",
    "GenerationError",
    "GenerationTimeoutError",
    "Generator",
    "LlamaCppGenerator",
    "Message",
    "OpenAIGenerator",
    "TransformersGenerator",
    "make_generator",
    "parse_passage_block",
]

BACKENDS = GENERATORS


def make_generator(name: str = "llama.cpp", **options: Any) -> Generator:
    """A generator for backend `name` (see `BACKENDS`), configured by `options`.

    Options whose value is None are dropped, so unset settings fall back to each
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
    if name == "llama.cpp":
        return LlamaCppGenerator(**given)
    if name == "transformers":
        if "model" not in given:
            raise ConfigError("generator backend 'transformers' needs a model")
        return TransformersGenerator(**given)
    if name == "openai":
        missing = [k for k in ("base_url", "model") if k not in given]
        if missing:
            raise ConfigError(f"generator backend 'openai' needs {' and '.join(missing)}")
        return OpenAIGenerator(**given)
    return ExtractiveGenerator(**given)
