"""The model worker's side of the pipe (see `worker`): the process the service starts
runs `main`, which builds the backend and answers the parent's requests with it.

Nothing here runs in the service's own process but `serve_requests` in tests.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

from rag.errors import GenerationError, RagError
from rag.generate.local import local_generator

# Calls the worker answers with one value (the backend's own methods).
CALLS = frozenset({"warm_up", "count_tokens", "count_prompt_tokens", "context_size", "prefill_counts",
                   "system_info", "choice_probabilities", "aside"})

def _describe(error: Exception) -> tuple[str, str, str, dict[str, Any]]:
    attributes = {k: v for k, v in vars(error).items() if isinstance(v, int | float | str | None)}
    return type(error).__module__, type(error).__qualname__, str(error), attributes


def serve_backend(conn: Connection, backend: str, options: dict[str, Any]) -> None:
    """The worker's model: build the generator backend, then answer the parent."""
    try:
        model = local_generator(backend, options)
    except RagError as exc:
        conn.send(("error", _describe(exc)))
        return
    conn.send(("hello", {"pid": os.getpid()}))
    serve_requests(conn, model)


def main(fd: int) -> None:
    """The worker process: read what to run from the parent, then run it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn = Connection(fd)
    try:
        kind, init = conn.recv()
    except (EOFError, OSError):
        return
    sys.path[:] = init["sys_path"]
    module, _, function = init["target"].partition(":")
    entry = getattr(importlib.import_module(module), function)
    entry(conn, init["backend"], init["options"])


def serve_requests(conn: Connection, model: Any) -> None:
    """Answer `(op, args, kwargs)` requests on `conn` with `model` until the parent closes
    the pipe or says ``close``. Errors the caller can act on go back as ``error``; any
    other exception is a bug and ends the worker, which the parent sees as a crash."""
    while True:
        try:
            op, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if op == "close":
            return
        if op == "cancel":
            continue  # the stream it meant had already ended
        try:
            if op == "stream":
                if _stream(conn, model, args, kwargs) == "close":
                    return
            elif op in CALLS:
                conn.send(("ok", _answer_call(model, op, args, kwargs)))
            else:
                conn.send(("error", _describe(GenerationError(f"unknown request {op!r}"))))
        except (RagError, ValueError, TypeError) as exc:
            conn.send(("error", _describe(exc)))


def _answer_call(model: Any, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The backend's method `op` called, or its property `op` read. Only `system_info`
    (a backend that says nothing of the CPU), `prefill_counts` (one that does not
    count its cache) and `aside` (one without a second context: `generate` instead)
    may be missing."""
    if not hasattr(model, op):
        if op == "system_info":
            return ""
        if op == "prefill_counts":
            return None
        if op == "aside":
            return model.generate(*args, **kwargs)
        raise GenerationError(f"{getattr(model, 'name', 'the model')} cannot {op}")
    value = getattr(model, op)
    return value(*args, **kwargs) if callable(value) else value


def _stream(conn: Connection, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Send the deltas of one stream; returns the parent's word that cut it short, if any."""
    deltas = model.stream(*args, **kwargs)  # raises now if the prompt does not fit
    conn.send(("ready", None))
    said = ""
    try:
        for delta in deltas:
            conn.send(("delta", delta))
            if conn.poll():
                said = conn.recv()[0]
                if said in ("cancel", "close"):
                    break
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()
    conn.send(("end", None))
    return said

