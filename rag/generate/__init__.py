"""Text generation: the Generator protocol and its backends.

- `LlamaCppGenerator`: a GGUF model in-process (the default, bundled Qwen2.5-Coder-1.5B);
- `TransformersGenerator`: any causal LM transformers can load (Hugging Face id, folder, GGUF);
- `OpenAIGenerator`: any OpenAI-compatible chat-completions endpoint;
- `ExtractiveGenerator`: no model, quotes the best-matching passage sentences.

`make_generator` builds one by backend name from settings-style options. Backends are
cheap to construct; models load on first use or in `warm_up()`.
"""

from __future__ import annotations

from typing import Any

from .base import (
    ContextOverflowError,
    GenerationError,
    GenerationTimeoutError,
    Generator,
    Message,
)
from .extractive import REFUSAL, ExtractiveGenerator, parse_passage_block
from .hf import TransformersGenerator
from .llamacpp import LlamaCppGenerator
from .openai_compat import OpenAIGenerator

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

BACKENDS = ("llama.cpp", "transformers", "openai", "extractive")

# The options each backend takes; anything else is a configuration mistake worth naming.
_OPTIONS = {
    "llama.cpp": {"model", "n_ctx", "threads", "seed"},
    "transformers": {"model", "threads", "device", "gguf_file", "n_ctx", "token_timeout"},
    "openai": {"base_url", "model", "api_key_env", "timeout", "connect_timeout"},
    "extractive": {"min_overlap"},
}


def make_generator(name: str = "llama.cpp", **options: Any) -> Generator:
    """A generator for backend `name` (see `BACKENDS`), configured by `options`.

    Options whose value is None are dropped, so unset settings fall back to each
    backend's defaults. Raises ValueError for an unknown backend, an option the backend
    does not take, or a missing required one (``model`` for transformers, ``base_url``
    and ``model`` for openai). Nothing is loaded here.
    """
    if name not in _OPTIONS:
        raise ValueError(f"unknown generator backend {name!r} (known: {', '.join(BACKENDS)})")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = set(given) - _OPTIONS[name]
    if unknown:
        raise ValueError(
            f"generator backend {name!r} does not take {', '.join(sorted(unknown))} "
            f"(it takes {', '.join(sorted(_OPTIONS[name]))})"
        )
    if name == "llama.cpp":
        return LlamaCppGenerator(**given)
    if name == "transformers":
        if "model" not in given:
            raise ValueError("generator backend 'transformers' needs a model")
        return TransformersGenerator(**given)
    if name == "openai":
        missing = [k for k in ("base_url", "model") if k not in given]
        if missing:
            raise ValueError(f"generator backend 'openai' needs {' and '.join(missing)}")
        return OpenAIGenerator(**given)
    return ExtractiveGenerator(**given)
