"""A local model run in a child process that the service supervises.

Native model code can crash the process it runs in: a llama.cpp build that uses
instructions this CPU lacks (SIGILL), a fault in a matrix kernel (SIGSEGV), the kernel's
out-of-memory killer (SIGKILL), a corrupt model file. Run inside the web server, any of
these ends every user's session at once. So the model lives in a worker process, as
Ollama's runners and vLLM's engine core do: a crash costs the call in flight, which
raises `ModelCrashedError` at once with a message for the user, and the worker is
started again in the background. A worker that keeps crashing (`max_crashes` times within
`crash_window` seconds) is given up: `failed` says why, and calls raise
`ModelUnavailableError` (the service then answers without the model).

The worker keeps its model between calls, and llama.cpp its KV cache, so a prompt prefix
that two questions share is still read once. Text deltas stream as the model writes them.

The protocol is a pipe of small tuples. Parent to worker: ``(op, args, kwargs)`` with op
``stream``, ``cancel``, ``close`` or one of `serving.CALLS`. Worker to parent: ``("hello", info)``
once; then ``("ok", value)`` for a call; ``("ready", None)``, ``("delta", text)``...,
``("end", None)`` for a stream; ``("error", (module, class, message, attributes))`` when
the backend raised an error the caller can act on.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from rag.errors import GenerationError, ModelCrashedError, ModelUnavailableError, RagError
from rag.generate.base import JoinedGenerate, Message, OneAtATime, check_request
from rag.generate.local import local_generator

log = logging.getLogger(__name__)

# How long a worker may take to start Python and import its backend (not to load a model).
START_SECONDS = 120.0
# How long a cancelled stream may take to stop before the worker is restarted.
CANCEL_SECONDS = 30.0
# Signals that mean a fault in native code, most often a build for another CPU.
_NATIVE_FAULTS = {"SIGSEGV", "SIGILL", "SIGBUS", "SIGFPE", "SIGABRT"}


class _Process:
    """A worker process: a new Python running `main`, talking over a socket pair.

    Not multiprocessing's spawn, which runs the parent's main script again in the child
    (and cannot when it came from standard input)."""

    def __init__(self, target: str, backend: str, options: dict[str, Any]) -> None:
        mine, theirs = socket.socketpair()
        with mine, theirs:
            self.conn = Connection(mine.detach())
            fd = theirs.fileno()
            self._popen = subprocess.Popen(
                [sys.executable, "-c", f"from rag.generate.serving import main; main({fd})"], pass_fds=(fd,),
                stdin=subprocess.DEVNULL, close_fds=True,
            )
        self.pid = self._popen.pid
        self._releasing = threading.Lock()
        # Ready when the process ends, for `wait` beside the connection (Linux 5.3+);
        # elsewhere its end shows as the connection's EOF alone.
        self.sentinel: int | None = None
        if hasattr(os, "pidfd_open"):
            try:
                self.sentinel = os.pidfd_open(self.pid)
            except OSError:
                self.sentinel = None
        _LIVE.add(self)
        self.init = ("init", {"sys_path": sys.path, "target": target, "backend": backend,
                              "options": options})

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)
        if self._popen.returncode is not None:
            self._release()

    def kill(self) -> None:
        if self.is_alive():
            self._popen.kill()
        self.join(timeout=5)

    def _release(self) -> None:
        with self._releasing:
            if self.sentinel is not None:
                os.close(self.sentinel)
                self.sentinel = None
            self.conn.close()
            _LIVE.discard(self)


# Workers still running when this process exits are stopped with it.
_LIVE: weakref.WeakSet[_Process] = weakref.WeakSet()


@atexit.register
def _stop_workers() -> None:
    for proc in list(_LIVE):
        proc.kill()


def _how_it_ended(exitcode: int | None) -> tuple[str | None, str]:
    """(signal name or None, a short description) of a worker's exit code."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return name, name
    return None, f"exit code {exitcode}"


def _likely_cause(signal_name: str | None) -> str:
    if signal_name in _NATIVE_FAULTS:
        return ("a fault in native code: most often a llama.cpp build that uses instructions "
                "this CPU lacks or mishandles (rebuild it with `bash scripts/setup.sh`; README, "
                "\"CPUs\")")
    if signal_name == "SIGKILL":
        return "killed from outside: the kernel's out-of-memory killer (see dmesg), or a user"
    return "the model's backend exited"


class SupervisedGenerator(JoinedGenerate):
    """A local generator backend (`llama.cpp`, `transformers`) run in a worker process.

    `local` is the backend as it would run in this process (built from `backend` and
    `options` when not given): it is only asked its name and context size here, and built
    again inside the worker.
    Calls have the `Generator` protocol's meaning and errors; one is served at a time;
    `generate` is the joined `stream`.
    """

    def __init__(
        self,
        backend: str,
        options: Mapping[str, Any],
        local: Any = None,
        *,
        max_crashes: int = 3,
        crash_window: float = 60.0,
        target: str = "rag.generate.serving:serve_backend",
    ) -> None:
        self.backend = backend
        self.options = dict(options)
        local = local if local is not None else local_generator(backend, self.options)
        self.name: str = local.name
        self.n_ctx: int | None = getattr(local, "n_ctx", None)
        self.max_crashes = max_crashes
        self.crash_window = crash_window
        self.system_info = ""  # what the worker's backend says of this CPU (llama.cpp)
        self.failed: str | None = None  # why the model was given up, once it is
        self.starts = 0  # worker processes started, the first one included
        self._target = target  # "module:function" run in the worker; tests give a fake
        self._busy = OneAtATime(self.name)
        self._state = threading.Lock()  # guards the fields below
        self._proc: Any = None
        self._conn: Connection | None = None
        self._loaded = False
        self._closed = False
        self._crashes: collections.deque[float] = collections.deque()
        self._restarter: threading.Thread | None = None

    # ------------------------------------------------------------------ the worker
    @property
    def pid(self) -> int | None:
        """The worker's process id, while one runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.is_alive() else None

    @property
    def loading(self) -> bool:
        """Whether a worker is being started again, with its model, after a crash."""
        restarter = self._restarter
        return restarter is not None and restarter.is_alive()

    def _start(self) -> tuple[Any, Connection]:
        """A new worker, past its imports (not yet its model). Caller holds `_busy`."""
        proc = _Process(self._target, self.backend, self.options)
        self.starts += 1
        parent = proc.conn
        with self._state:
            closed = self._closed
            if not closed:
                self._proc, self._conn, self._loaded = proc, parent, False
        if closed:  # shut down while this one started
            proc.kill()
            raise GenerationError(f"{self.name}: the generator is closed")
        self._send(proc, parent, proc.init, what="starting")
        kind, info = self._receive(proc, parent, timeout=START_SECONDS, what="starting")
        if kind != "hello":
            raise GenerationError(f"{self.name}: the model worker said {kind!r} before hello")
        log.info("model worker %s started (pid %d)", self.name, proc.pid)
        return proc, parent

    def _worker(self) -> tuple[Any, Connection]:
        """The running worker with its model loaded, started if need be. Caller holds `_busy`."""
        if self.failed:
            raise ModelUnavailableError(self.failed)
        if self._closed:
            raise GenerationError(f"{self.name}: the generator is closed")
        proc, conn = self._proc, self._conn
        if proc is not None and not proc.is_alive():
            self._crashed(proc, "waiting for a question")  # logged and counted; started anew
            if self.failed:
                raise ModelUnavailableError(self.failed)
            proc = None
        if proc is None or conn is None:
            proc, conn = self._start()
        if not self._loaded:
            self._send(proc, conn, ("warm_up", (), {}), what="loading the model")
            self._answer(proc, conn, what="loading the model")
            self._send(proc, conn, ("system_info", (), {}), what="loading the model")
            self.system_info = str(self._answer(proc, conn, what="loading the model") or "")
            self._loaded = True
            if self.system_info:
                log.info("model worker system info: %s", self.system_info)
        return proc, conn

    def _send(self, proc: Any, conn: Connection, message: tuple[Any, ...], what: str) -> None:
        """Send `message` to the worker; a dead worker raises ModelCrashedError."""
        try:
            conn.send(message)
        except OSError:
            raise self._crashed(proc, what) from None

    def _receive(
        self, proc: Any, conn: Connection, *, timeout: float | None = None, what: str = "answering",
    ) -> tuple[str, Any]:
        """The worker's next message; a dead worker raises ModelCrashedError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait([conn] if proc.sentinel is None else [conn, proc.sentinel], timeout=left)
            if conn in ready:
                try:
                    message: tuple[str, Any] = conn.recv()
                except (EOFError, OSError):
                    raise self._crashed(proc, what) from None
                if message[0] == "error":
                    raise _rebuild(message[1])
                return message
            if ready or not proc.is_alive():
                raise self._crashed(proc, what)
            if deadline is not None and time.monotonic() >= deadline:
                proc.kill()
                raise self._crashed(proc, what)

    def _answer(self, proc: Any, conn: Connection, *, what: str = "answering") -> Any:
        kind, value = self._receive(proc, conn, what=what)
        if kind != "ok":
            raise GenerationError(f"{self.name}: the model worker answered {kind!r}, not ok")
        return value

    def _crashed(self, proc: Any, what: str) -> ModelCrashedError:
        """Record the worker's death, restart it or give it up; the error for the caller."""
        proc.join(timeout=5)
        signal_name, how = _how_it_ended(proc.exitcode)
        now = time.monotonic()
        with self._state:
            if self._proc is proc:
                self._proc, self._conn, self._loaded = None, None, False
            self._crashes.append(now)
            while self._crashes and now - self._crashes[0] > self.crash_window:
                self._crashes.popleft()
            recent = len(self._crashes)
        if self._closed:  # stopped with the service: nothing to report or restart
            return ModelCrashedError(f"模型进程已停止（{how}）。", signal_name=signal_name,
                                     exit_code=proc.exitcode)
        log.error("the model process (%s, pid %s) died of %s while %s: %s. System info: %s",
                  self.name, proc.pid, how, what, _likely_cause(signal_name),
                  self.system_info or "(not known: it died before reporting it)")
        if recent >= self.max_crashes:
            self.failed = (
                f"模型在这台机器上无法运行：{self.crash_window:.0f} 秒内崩溃 {recent} 次（最近一次：{how}），"
                "已停用。回答改为直接引用资料原句（不经模型）。"
                + ("可能是 llama.cpp 的编译不适合这颗 CPU：请运行 bash scripts/setup.sh 重新编译后重启服务"
                   "（见 README 的 “CPUs” 一节）。" if signal_name in _NATIVE_FAULTS else
                   "请检查内存是否足够、模型文件是否完整，然后重启服务。")
            )
            log.error("the model (%s) crashed %d times within %.0f s; it is given up: answers "
                      "quote the evidence instead. Likely cause: %s", self.name, recent,
                      self.crash_window, _likely_cause(signal_name))
            return ModelCrashedError(self.failed, signal_name=signal_name, exit_code=proc.exitcode)
        self._restart_soon()
        return ModelCrashedError(
            f"模型进程意外停止（{how}），这个问题没有答完；模型正在重新启动，请稍后再问一次。",
            signal_name=signal_name, exit_code=proc.exitcode,
        )

    def _restart_soon(self) -> None:
        """Start a new worker and load its model in the background, so the next call
        finds it ready."""
        with self._state:
            if self._restarter is not None and self._restarter.is_alive():
                return
            self._restarter = threading.Thread(target=self._restart, name="rag-model-restart",
                                               daemon=True)
            self._restarter.start()

    def _restart(self) -> None:
        with self._busy.hold():
            while not (self._closed or self.failed or (self._proc is not None and self._loaded)):
                try:
                    self._worker()
                except ModelCrashedError:
                    continue  # counted and logged by _crashed, which gives up in time
                except RagError as exc:
                    if not self._closed:
                        log.error("the model (%s) could not be restarted: %s", self.name, exc)
                    return

    # ------------------------------------------------------------------ the protocol
    def warm_up(self) -> None:
        """Start the worker and load the model now rather than on the first call."""
        with self._busy.hold():
            self._worker()

    @property
    def context_size(self) -> int:
        """Tokens the context window holds: prompt plus answer."""
        if self.n_ctx is not None:
            return self.n_ctx
        return int(self._call("context_size"))

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes as plain text."""
        return int(self._call("count_tokens", text))

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the full chat prompt, template included, exactly as it is sent."""
        return int(self._call("count_prompt_tokens", list(messages)))

    def aside(self, messages: Sequence[Message], *, max_tokens: int) -> str:
        """A short reply that leaves the model's cache as it was (see the backend's);
        a backend without one writes it as `generate` does."""
        return str(self._call("aside", list(messages), max_tokens=max_tokens))

    def prefill_counts(self) -> tuple[int, int] | None:
        """(prompt tokens, of which read from the cache) over the worker's calls so far, or
        None from a backend that does not count; a restarted worker starts from zero."""
        counts = self._call("prefill_counts")
        return None if counts is None else (int(counts[0]), int(counts[1]))

    def choice_probabilities(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        """The probability that the reply starts with each of `choices` (see the backend's)."""
        return [float(p) for p in self._call("choice_probabilities", list(messages), list(choices))]

    def _call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        with self._busy.hold():
            proc, conn = self._worker()
            self._send(proc, conn, (op, args, kwargs), what="answering")
            return self._answer(proc, conn)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The answer as text deltas. The context check runs now, before the first delta;
        the generator is held from this call until the stream is read or closed."""
        check_request(messages, max_tokens, temperature)
        hold = self._busy.hold()
        hold.__enter__()
        try:
            proc, conn = self._worker()
            request = ("stream", (list(messages),),
                       {"max_tokens": max_tokens, "temperature": temperature, "stop": list(stop or [])})
            self._send(proc, conn, request, what="answering")
            kind, _ = self._receive(proc, conn)
            if kind != "ready":
                raise GenerationError(f"{self.name}: the model worker answered {kind!r}, not ready")
        except BaseException:
            hold.__exit__(None, None, None)
            raise
        return self._deltas(proc, conn, hold)

    def _deltas(self, proc: Any, conn: Connection, hold: Any) -> Iterator[str]:
        ended = False
        try:
            while True:
                kind, value = self._receive(proc, conn)
                if kind == "end":
                    ended = True
                    return
                if kind == "delta":
                    yield value
        except RagError:
            ended = True  # the worker's own error ends its stream; a crash ends the worker
            raise
        finally:
            if not ended:
                self._cancel(proc, conn)
            hold.__exit__(None, None, None)

    def _cancel(self, proc: Any, conn: Connection) -> None:
        """Stop a stream the caller closed early; the worker keeps its model."""
        try:
            self._send(proc, conn, ("cancel", (), {}), what="stopping")
            while self._receive(proc, conn, timeout=CANCEL_SECONDS, what="stopping")[0] != "end":
                pass
        except (ModelCrashedError, OSError):
            pass  # recorded by _crashed, or the pipe is gone with the worker
        except RagError as exc:
            log.warning("the model worker failed while stopping a stream: %s", exc)

    def close(self) -> None:
        """Stop the worker; the next call starts it again."""
        with self._state:
            proc, conn = self._proc, self._conn
            self._proc, self._conn, self._loaded = None, None, False
        if proc is None:
            return
        try:
            if conn is not None:
                conn.send(("close", (), {}))
            proc.join(timeout=5)
        except OSError:
            pass
        proc.kill()

    def shutdown(self) -> None:
        """Stop the worker for good: no restart follows."""
        self._closed = True
        self.close()


def _rebuild(described: tuple[str, str, str, dict[str, Any]]) -> Exception:
    """The worker's error as the same class here, with its attributes."""
    module, qualname, message, attributes = described
    cls: Any = GenerationError
    if module.startswith("rag.") or module == "builtins":
        found = getattr(importlib.import_module(module), qualname, None)
        if isinstance(found, type) and issubclass(found, RagError | ValueError | TypeError):
            cls = found
    try:
        error = cls(message)
    except TypeError:  # a class that needs more than its message
        error = GenerationError(message)
    error.__dict__.update(attributes)
    return error  # type: ignore[no-any-return]
