"""A GGUF model run in-process by llama.cpp (through llama-cpp-python)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import default_threads
from rag.generate.base import GenerationError, Message, OneAtATime, check_context, check_request
from rag.models.embedding import ModelError
from rag.models.generation import DEFAULT_GENERATOR_MODEL, resolve_generator_model

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

log = logging.getLogger(__name__)

# Control tokens in message text would be parsed as real ones (llama-cpp-python tokenizes
# the rendered chat prompt with special=True), letting a document close the user turn.
# A zero-width space after the first character keeps the text readable but inert.
_DEFUSE = "\u200b"


# The context of `aside`: a rewrite prompt with the last turns of a conversation.
ASIDE_CTX = 2048


class LlamaCppGenerator:
    """A GGUF chat model run by llama.cpp on the CPU, loaded on first use.

    `model` is a spec for `rag.models.generation.resolve_generator_model` (a bundled model or a
    ``.gguf`` path). The prompt is formatted with the chat template stored in the GGUF.
    Decoding is greedy at temperature 0, seeded by `seed` otherwise. `threads` defaults to
    the cores, at most 2; more threads than cores is many times slower. One instance
    serves one call at a time; concurrent calls wait for each other.
    """

    def __init__(
        self,
        model: str = DEFAULT_GENERATOR_MODEL,
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        if n_ctx < 64:
            raise ValueError(f"n_ctx must be at least 64, got {n_ctx}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.model = model
        self.n_ctx = n_ctx
        self.threads = threads or default_threads()
        self.seed = seed
        self.name = f"llama.cpp:{model}"
        self.load_seconds: float | None = None
        self._llm: Llama | None = None
        self._side: Llama | None = None  # see `aside`
        self._formatter: Jinja2ChatFormatter | None = None
        self._controls: tuple[str, ...] = ()
        self._busy = OneAtATime(self.name)
        self._prefill = [0, 0]  # see prefill_counts

    # ------------------------------------------------------------------ loading
    def warm_up(self) -> None:
        """Load the model now rather than on the first call."""
        self._load()

    def _load(self) -> Llama:
        if self._llm is not None:
            return self._llm
        with self._busy.hold():
            if self._llm is None:
                self._llm = self._open()
        return self._llm

    def _open(self, n_ctx: int | None = None) -> Llama:
        """The model with a context of `n_ctx` tokens (default `self.n_ctx`, the main one)."""
        main = n_ctx is None
        n_ctx = n_ctx or self.n_ctx
        try:
            path = resolve_generator_model(self.model)
        except ModelError as exc:
            raise GenerationError(f"cannot load generator model {self.model!r}: {exc}") from exc
        if not path.lower().endswith(".gguf"):
            raise GenerationError(
                f"cannot load generator model {self.model!r} with llama.cpp: {path} is not a "
                ".gguf file (a Hugging Face id or folder needs the transformers backend)"
            )
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        load_cpu_backend()
        start = time.perf_counter()
        try:
            llm = Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_batch=min(512, n_ctx),
                n_threads=self.threads,
                n_threads_batch=self.threads,
                seed=self.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise GenerationError(
                f"cannot load generator model {self.model!r} from {path}: {exc} "
                "(is it a complete GGUF file of an architecture this llama.cpp supports?)"
            ) from exc
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            llm.close()
            raise GenerationError(
                f"generator model {self.model!r}: {path} has no chat template "
                "(tokenizer.chat_template); use an instruct/chat GGUF"
            )
        eos, bos = llm.token_eos(), llm.token_bos()
        # The same formatter llama-cpp-python would build from the metadata, kept here
        # so prompts are counted exactly as they are sent.
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=_token_text(llm, eos),
            bos_token=_token_text(llm, bos),
            stop_token_ids=[eos],
        )
        llm.chat_handler = self._formatter.to_chat_handler()
        self._controls = _control_tokens(llm)
        seconds = time.perf_counter() - start
        if main:
            self.load_seconds = seconds
        log.info("loaded %s (%s, %d-token context) in %.1f s", self.model, path, n_ctx, seconds)
        return llm

    # ---------------------------------------------------------------- counting
    @property
    def context_size(self) -> int:
        """Tokens the context window holds: prompt plus answer."""
        return self.n_ctx

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes as plain text (no special tokens are parsed)."""
        llm = self._load()
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the full chat prompt, template included, exactly as it is sent."""
        return len(self._prompt_tokens(self._load(), self._dicts(messages)))

    def _prompt_tokens(self, llm: Llama, messages: list[dict[str, str]]) -> list[int]:
        import jinja2

        assert self._formatter is not None
        try:
            rendered = self._formatter(messages=messages)  # type: ignore[arg-type]
        except (jinja2.TemplateError, ValueError, TypeError) as exc:
            # ValueError is the template's own raise_exception (e.g. roles out of order).
            raise GenerationError(f"{self.name}: the chat template failed: {exc}") from exc
        return llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )

    def _dicts(self, messages: Sequence[Message]) -> list[dict[str, str]]:
        out = []
        for message in messages:
            content = message.content
            for token in self._controls:
                if token in content:
                    content = content.replace(token, token[0] + _DEFUSE + token[1:])
            out.append({"role": message.role, "content": content})
        return out

    # -------------------------------------------------------------- generation
    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """The model's answer to `messages`, at most `max_tokens` tokens."""
        llm, dicts, ids = self._prepare(messages, max_tokens, temperature)
        with self._busy.hold():
            return self._complete(llm, dicts, ids, max_tokens=max_tokens, temperature=temperature,
                                  stop=list(stop or []))

    def _complete(self, llm: Llama, dicts: list[dict[str, str]], ids: list[int], **options: Any) -> str:
        """One whole completion of the prompt `dicts` (tokens `ids`) by `llm`, counted (see
        `prefill_counts`); the caller holds `_busy`."""
        self._count(llm, ids)
        try:
            result: Any = llm.create_chat_completion(messages=dicts, seed=self.seed, **options)  # type: ignore[arg-type]
        except (ValueError, RuntimeError) as exc:
            raise GenerationError(f"{self.name}: generation failed: {exc}") from exc
        return str(result["choices"][0]["message"].get("content") or "")

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The answer as text deltas; the context check runs now, before the first delta."""
        llm, dicts, ids = self._prepare(messages, max_tokens, temperature)
        return self._deltas(llm, dicts, ids, max_tokens, temperature, list(stop or []))

    def _deltas(
        self, llm: Llama, dicts: list[dict[str, str]], ids: list[int], max_tokens: int,
        temperature: float, stop: list[str],
    ) -> Iterator[str]:
        with self._busy.hold():
            self._count(llm, ids)
            try:
                chunks: Any = llm.create_chat_completion(
                    messages=dicts,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=stop,
                    seed=self.seed,
                    stream=True,
                )
                for chunk in chunks:
                    delta = chunk["choices"][0]["delta"].get("content")
                    if delta:
                        yield delta
            except (ValueError, RuntimeError) as exc:
                raise GenerationError(f"{self.name}: generation failed: {exc}") from exc

    def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        """The probability that the model's reply starts with each of `choices` (each
        one token, e.g. 是 and 否), renormalized over them.

        One decoding step: a prompt that shares its start with the last one (the answer
        prompt with a question appended) costs only its new tokens. Read from the step's
        logits, so the model need not keep logits for every token (llama.cpp's logprobs).
        """
        import numpy as np
        from llama_cpp import LogitsProcessorList

        llm, dicts, prompt = self._prepare(messages, 1, 0.0)
        ids = []
        for choice in choices:
            tokens = llm.tokenize(choice.encode("utf-8"), add_bos=False, special=False)
            if len(tokens) != 1:
                raise ValueError(f"choice {choice!r} is {len(tokens)} tokens for {self.name}, not one")
            ids.append(tokens[0])
        seen: list[Any] = []

        def grab(_input_ids: Any, scores: Any) -> Any:
            if not seen:
                seen.append(np.array(scores, dtype=np.float64, copy=True))
            return scores

        with self._busy.hold():
            self._complete(llm, dicts, prompt, max_tokens=1, temperature=0.0,
                           logits_processor=LogitsProcessorList([grab]))
        logits = seen[0][ids]
        weights = np.exp(logits - logits.max())
        return [float(w) for w in weights / weights.sum()]

    def _prepare(
        self, messages: Sequence[Message], max_tokens: int, temperature: float, llm: Llama | None = None,
    ) -> tuple[Llama, list[dict[str, str]], list[int]]:
        """The context to use (`llm`, or the main one), the messages as it takes them and
        the prompt's tokens, checked to fit with `max_tokens` more."""
        check_request(messages, max_tokens, temperature)
        main = self._load()  # also the chat template every context formats with
        llm = llm or main
        dicts = self._dicts(messages)
        ids = self._prompt_tokens(llm, dicts)
        # llama-cpp-python would silently shorten max_tokens to what fits; an answer cut
        # mid-sentence is worse than a clear error the caller can act on.
        check_context(self.name, len(ids), max_tokens, self.n_ctx if llm is main else llm.n_ctx())
        return llm, dicts, ids

    def _count(self, llm: Llama, ids: list[int]) -> None:
        """Count the prompt's tokens and those llama.cpp will take from its cache: the
        longest start the prompt shares with what the model last read (all but one
        token when it is the whole prompt, since the next token's logits must be computed)."""
        same = llm.longest_token_prefix(llm.input_ids.tolist(), ids)
        reused = same - 1 if same == len(ids) else same
        self._prefill[0] += len(ids)
        self._prefill[1] += max(reused, 0)

    def prefill_counts(self) -> tuple[int, int]:
        """(prompt tokens, of which read from the cache), summed over every call so far:
        the difference over a question is what it cost to read."""
        return self._prefill[0], self._prefill[1]

    def system_info(self) -> str:
        """What llama.cpp uses on this CPU: its CPU library and instruction sets."""
        import llama_cpp

        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
        variant = cpu_variant()
        return f"{variant}: {info}" if variant else info

    def aside(self, messages: Sequence[Message], *, max_tokens: int) -> str:
        """A short reply (a follow-up rewritten into a question, say) that leaves the
        model's cache as it was: it is written by a second, small context (`ASIDE_CTX`
        tokens) over the same model file, which is mapped, not read again. The main
        context still holds the last answer's prompt, so the next answer reuses it."""
        with self._busy.hold():
            if self._side is None:
                self._side = self._open(min(ASIDE_CTX, self.n_ctx))
        side, dicts, ids = self._prepare(messages, max_tokens, 0.0, self._side)
        with self._busy.hold():
            return self._complete(side, dicts, ids, max_tokens=max_tokens, temperature=0.0)

    def close(self) -> None:
        """Free the model's memory; the next call loads it again."""
        with self._busy.hold():
            for llm in (self._llm, self._side):
                if llm is not None:
                    llm.close()
            self._llm = self._side = None


def load_cpu_backend() -> None:
    """Load the llama.cpp CPU library that suits this CPU, where the build has several.

    A portable build (`GGML_BACKEND_DL`, `GGML_CPU_ALL_VARIANTS`: README, "CPUs") ships
    one CPU library per instruction-set level beside libllama and picks the best one this
    CPU can run. ggml looks for them only beside the Python executable and in the working
    folder, so they are loaded here, from the package's own folder. A build with its CPU
    code built in has its backend registered already, and nothing is done.
    """
    import ctypes

    from llama_cpp import llama_cpp as lib

    # Through libllama's handle, so the ggml registry is the one llama.cpp itself uses.
    handle = lib._lib
    count = handle.ggml_backend_reg_count
    count.restype = ctypes.c_size_t
    if count() > 0:
        return
    load = handle.ggml_backend_load_all_from_path
    load.argtypes = [ctypes.c_char_p]
    load.restype = None
    load(str(Path(lib.__file__).parent / "lib").encode())
    if count() == 0:
        raise GenerationError(
            f"llama.cpp found no CPU library it can run in {Path(lib.__file__).parent / 'lib'}; "
            "rebuild it with `bash scripts/setup.sh` (README, \"CPUs\")"
        )


def cpu_variant() -> str:
    """The name of the CPU library llama.cpp loaded (`haswell`, `zen4` ...), if it chose one."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return ""
    names = {line.rsplit("/", 1)[-1] for line in maps.splitlines() if "libggml-cpu-" in line}
    return ", ".join(sorted(n.removeprefix("libggml-cpu-").split(".so")[0] for n in names))


def _token_text(llm: Llama, token: int) -> str:
    return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""


def _control_tokens(llm: Llama) -> tuple[str, ...]:
    """Texts of the vocabulary's control tokens (``<|im_end|>`` ...), longest first."""
    import llama_cpp

    vocab = llm._model.vocab
    found = set()
    for token in range(llm.n_vocab()):
        if llama_cpp.llama_vocab_get_attr(vocab, token) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL:
            text = llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", "replace")
            if len(text) > 1 and not text.isspace():
                found.add(text)
    return tuple(sorted(found, key=len, reverse=True))
