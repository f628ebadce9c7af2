"""Any causal language model that transformers can load, run with PyTorch."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import default_threads
from rag.generate.base import (
    GenerationError,
    GenerationTimeoutError,
    JoinedGenerate,
    Message,
    OneAtATime,
    StopScanner,
    check_context,
    check_request,
)
from rag.models.embedding import ModelError
from rag.models.generation import resolve_generator_model

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


class TransformersGenerator(JoinedGenerate):
    """A causal LM by Hugging Face id, local folder or ``.gguf`` file, loaded on first use.

    A bundled spec or a ``.gguf`` path is loaded through transformers' GGUF reader, which
    dequantizes the weights to float32 (it needs the ``gguf`` and ``accelerate``
    packages). `gguf_file` names the GGUF inside a folder or Hugging Face repo. Prompts use
    the tokenizer's chat template; control tokens inside message text are encoded as plain
    text. `token_timeout` bounds the wait for each streamed piece of text, so a stuck
    model cannot hang a stream. `n_ctx` caps the context below the model's own limit.
    """

    def __init__(
        self,
        model: str,
        *,
        threads: int | None = None,
        device: str = "cpu",
        gguf_file: str | None = None,
        n_ctx: int | None = None,
        token_timeout: float = 120.0,
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if n_ctx is not None and n_ctx < 1:
            raise ValueError(f"n_ctx must be at least 1, got {n_ctx}")
        if token_timeout <= 0:
            raise ValueError(f"token_timeout must be positive, got {token_timeout}")
        self.model = model
        self.threads = threads or default_threads()
        self.device = device
        self.gguf_file = gguf_file
        self.token_timeout = token_timeout
        self.name = f"transformers:{model}"
        self.load_seconds: float | None = None
        self._n_ctx = n_ctx
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._model: PreTrainedModel | None = None
        self._busy = OneAtATime(self.name)

    # ------------------------------------------------------------------ loading
    def warm_up(self) -> None:
        """Load the model now rather than on the first call."""
        self._load()

    def _load(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        if self._model is None or self._tokenizer is None:
            with self._busy.hold():
                if self._model is None or self._tokenizer is None:
                    self._open()
        assert self._model is not None and self._tokenizer is not None
        return self._tokenizer, self._model

    def _open(self) -> None:
        try:
            source = resolve_generator_model(self.model)
        except ModelError as exc:
            raise GenerationError(f"cannot load generator model {self.model!r}: {exc}") from exc
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs: dict[str, Any] = {}
        gguf = self.gguf_file
        if source.lower().endswith(".gguf") and Path(source).is_file():
            path = Path(source)
            source, gguf = str(path.parent), path.name
        if gguf:
            kwargs["gguf_file"] = gguf
        if Path(source).is_dir():
            # A local model must never trigger a download attempt (no hub here).
            kwargs["local_files_only"] = True
        where = f"{source}/{gguf}" if gguf else source
        start = time.perf_counter()
        self._set_threads()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            model: Any = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        except (OSError, ValueError, ImportError, RuntimeError, KeyError) as exc:
            hint = " (reading a GGUF needs: pip install gguf accelerate)" if gguf else ""
            raise GenerationError(
                f"cannot load generator model {self.model!r} from {where}: {exc}{hint}"
            ) from exc
        if not tokenizer.chat_template:
            raise GenerationError(
                f"generator model {self.model!r}: {where} has no chat template; "
                "use an instruct/chat model"
            )
        model.to(self.device)
        model.eval()
        self._tokenizer, self._model = tokenizer, model
        self.load_seconds = time.perf_counter() - start
        log.info("loaded %s from %s in %.1f s", self.model, where, self.load_seconds)

    def _set_threads(self) -> None:
        import torch

        # Torch's pool is process-wide and defaults to every core; oversubscribing a small
        # machine is many times slower, so set it on each use.
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    # ---------------------------------------------------------------- counting
    @property
    def context_size(self) -> int:
        """Tokens the context window holds: `n_ctx`, else the model's position limit."""
        _, model = self._load()
        limit = getattr(model.config, "max_position_embeddings", None) or 2048
        return min(self._n_ctx, limit) if self._n_ctx else int(limit)

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes as plain text."""
        tokenizer, _ = self._load()
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the full chat prompt, template included."""
        tokenizer, _ = self._load()
        return int(self._encode(tokenizer, messages)["input_ids"].shape[1])

    def _encode(self, tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]) -> Any:
        import jinja2

        try:
            return tokenizer.apply_chat_template(
                [m.to_dict() for m in messages],
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
                # Passage text is data: a "<|im_end|>" in a news article stays text.
                sanitize_control_tokens=True,
            )
        except (jinja2.TemplateError, ValueError, TypeError) as exc:
            raise GenerationError(f"{self.name}: the chat template failed: {exc}") from exc

    # -------------------------------------------------------------- generation
    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The answer as text deltas; the context check runs now, before the first delta."""
        check_request(messages, max_tokens, temperature)
        tokenizer, model = self._load()
        inputs = self._encode(tokenizer, messages)
        check_context(self.name, int(inputs["input_ids"].shape[1]), max_tokens, self.context_size)
        return self._deltas(tokenizer, model, inputs, max_tokens, temperature, stop)

    def _deltas(
        self,
        tokenizer: PreTrainedTokenizerBase,
        model: Any,
        inputs: Any,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] | None,
    ) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        cancel = threading.Event()

        class _Cancelled(StoppingCriteria):
            # Ends generation when the reader has stopped reading (stop string, close()).
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full(
                    (input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device
                )

        streamer = TextIteratorStreamer(
            tokenizer, skip_prompt=True, timeout=self.token_timeout, skip_special_tokens=True
        )
        options: dict[str, Any] = {
            **inputs.to(model.device),
            "streamer": streamer,
            "max_new_tokens": max_tokens,
            "stopping_criteria": StoppingCriteriaList([_Cancelled()]),
            "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        }
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature)
        else:
            # Greedy; unset the sampling knobs a model's generation_config may carry.
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self._set_threads()
                with torch.inference_mode():
                    model.generate(**options)
            except Exception as exc:  # handed to the reading thread, which raises it
                failure.append(exc)
                streamer.end()

        scanner = StopScanner(stop)
        with self._busy.hold():
            worker = threading.Thread(target=run, name=f"generate {self.model}", daemon=True)
            worker.start()
            timed_out = False
            try:
                for delta in streamer:
                    text = scanner.feed(delta)
                    if text:
                        yield text
                    if scanner.stopped:
                        break
                if failure:
                    raise GenerationError(f"{self.name}: generation failed: {failure[0]}") from failure[0]
                tail = scanner.flush()
                if tail:
                    yield tail
            except queue.Empty:
                timed_out = True
                raise GenerationTimeoutError(
                    f"{self.name}: no text from the model for {self.token_timeout:.0f} s"
                ) from None
            finally:
                cancel.set()
                # After cancel the worker stops within one token; a stuck one is left behind.
                worker.join(timeout=0 if timed_out else self.token_timeout)
