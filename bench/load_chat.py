"""Many people asking at once: errors, queue waits and answer latency of `rag serve`.

    python bench/load_chat.py --users 20 --questions 3   # full run: configured generator (llama.cpp)
    python bench/load_chat.py --generator extractive --users 4 --questions 2   # quick check
    python bench/load_chat.py --url http://127.0.0.1:7860/ --users 20   # a server already running

Without `--url` the example archive (`examples/archive`) is indexed into a temporary
folder and `rag serve` started on a free port (with `--generator` and `--concurrency`
passed through); the run begins once the page answers and the server's background
warm-up is done, after one warm-up question that is not counted. The server is stopped
and the folder removed at the end.

Each of `--users` threads has its own `gradio_client.Client` and asks `--questions`
questions through the `/ask` API, round-robin from a fixed list about the example archive
(one of them the archive cannot answer), `--think` seconds apart. While a question waits,
its status is polled every 0.2 s: the queue positions the server reports (Gradio's rank,
0 = next in line), when processing started and when the answer came. Prints Markdown
tables; exits 1 if any question failed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT / "examples" / "archive"

QUESTIONS = [
    "地铁2号线一期工程的总投资是多少钱？",
    "2025青川马拉松男子全程项目的冠军是谁？",
    "第十二届青川河元宵灯会一共迎来了多少游客？",
    "市第一人民医院新启用的东院区能提供多少张病床？",
    "沙溪河流域水环境综合治理工程计划总共投入多少资金？",
    "地铁2号线开通后起步票价是多少钱？",  # not in the archive: should be refused
]
WARM_UP_QUESTION = "地铁2号线什么时候开通试运营？"

POLL_S = 0.2
READY_MARKS = ("ready: models and index loaded", "warning: could not load everything ahead",
               "error: the model crashed in warm-up")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, _, password = value.partition(":")
    return user, password


# ------------------------------------------------------------------------------ server
@dataclass
class Server:
    url: str
    generator: str
    how: str  # how it was started, or that it was already running
    warm_up_s: float | None = None  # the server's own model loading, when it said


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_for_page(url: str, deadline: float, proc: subprocess.Popen | None = None,
                   log: Path | None = None) -> None:
    while True:
        try:
            urllib.request.urlopen(url.rstrip("/") + "/config", timeout=5).close()
            return
        except urllib.error.HTTPError:
            return  # it answers (a login page, say)
        except OSError:
            if proc is not None and proc.poll() is not None:
                tail = _log_tail(log) if log else ""
                raise SystemExit(f"rag serve exited with code {proc.returncode}\n{tail}") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer in time") from None
            time.sleep(0.2)


def _wait_for_warm_up(proc: subprocess.Popen, log: Path, deadline: float) -> float | None:
    """Waits for the server's 'ready' (or 'could not load') line; the seconds it reported."""
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        for line in text.splitlines():
            if READY_MARKS[0] in line:
                try:
                    return float(line.split("loaded in ", 1)[1].split()[0])
                except (IndexError, ValueError):
                    return None
            if any(mark in line for mark in READY_MARKS[1:]):
                print(line, file=sys.stderr)
                return None
        if proc.poll() is not None:
            raise SystemExit(f"rag serve exited with code {proc.returncode}\n{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise SystemExit(f"rag serve did not finish its warm-up in time\n{_log_tail(log)}")
        time.sleep(0.5)


def _configured_generator(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "from rag.config import Settings; print(Settings.load(None).generator)"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def _start_server(args: argparse.Namespace, tmp: Path) -> tuple[subprocess.Popen, Server]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_AUTH", "RAG_INDEX")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    index = tmp / "index"
    rag = [sys.executable, "-m", "rag.cli"]
    print(f"indexing {ARCHIVE.relative_to(ROOT)} …", file=sys.stderr, flush=True)
    done = subprocess.run([*rag, "ingest", "--quiet", str(ARCHIVE), "--index", str(index)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"rag ingest failed ({done.returncode}):\n{done.stderr[-2000:]}")
    generator = args.generator or _configured_generator(env)
    port = _free_port()
    serve_args = ["serve", "--index", str(index), "--port", str(port)]
    if args.generator:
        serve_args += ["--generator", args.generator]
    if args.concurrency:
        serve_args += ["--concurrency", str(args.concurrency)]
    log = tmp / "serve.log"
    print("starting rag serve and waiting for its warm-up …", file=sys.stderr, flush=True)
    with log.open("wb") as sink:
        proc = subprocess.Popen([*rag, *serve_args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=sink, stderr=subprocess.STDOUT)
    how = "rag " + shlex.join(serve_args).replace(str(index), "TMP/index")
    server = Server(f"http://127.0.0.1:{port}/", generator, how)
    try:
        deadline = time.monotonic() + args.start_timeout
        _wait_for_page(server.url, deadline, proc, log)
        server.warm_up_s = _wait_for_warm_up(proc, log, deadline)
    except BaseException:
        _stop(proc)
        raise
    return proc, server


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


# ------------------------------------------------------------------------------ users
@dataclass
class Asked:
    user: int
    question: str
    submitted: float = 0.0
    started: float | None = None  # processing began (as the client heard)
    start_seen: bool = False  # False: it began and ended between two polls
    finished: float | None = None
    ranks: list[int] = field(default_factory=list)  # positions told while queued
    queue_sizes: list[int] = field(default_factory=list)
    error: str | None = None
    refused: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def wait(self) -> float | None:
        return None if self.started is None else self.started - self.submitted

    @property
    def latency(self) -> float | None:
        return None if self.finished is None else self.finished - self.submitted

    @property
    def processing(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


def _client(url: str, auth: tuple[str, str] | None) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, auth=auth, download_files=False, analytics_enabled=False)


def _ask(client: Any, asked: Asked, timeout: float) -> dict[str, Any] | None:
    """Submits one question, polls its status until the answer comes; fills `asked`."""
    from gradio_client.utils import Status

    waiting = {Status.STARTING, Status.JOINING_QUEUE, Status.IN_QUEUE, Status.SENDING_DATA}
    running = {Status.PROCESSING, Status.ITERATING, Status.PROGRESS, Status.LOG}
    asked.submitted = time.time()
    job = client.submit(asked.question, None, None, api_name="/ask")
    last_waiting = asked.submitted
    while True:
        polled = time.time()
        status = job.status()
        if asked.started is None:
            if status.code in waiting:
                last_waiting = polled
                if status.code == Status.IN_QUEUE and status.rank is not None:
                    asked.ranks.append(int(status.rank))
                    if status.queue_size is not None:
                        asked.queue_sizes.append(int(status.queue_size))
            elif status.code in running:  # its time is when the client heard it
                asked.started = status.time.timestamp() if status.time else polled
                asked.start_seen = True
        try:
            result = job.result(timeout=POLL_S)
        except TimeoutError:
            if not job.done():
                if time.time() - asked.submitted > timeout:
                    job.cancel()
                    raise TimeoutError(f"no answer after {timeout:.0f} s") from None
                continue
            result = job.result(timeout=0)  # it ended just now: its own outcome
        finally:
            if job.done():
                asked.finished = time.time()
                if asked.started is None:
                    asked.started = last_waiting  # began after the last poll that saw it queued
        return result if isinstance(result, dict) else None


def _user(number: int, args: argparse.Namespace, url: str, auth: tuple[str, str] | None,
          go: threading.Barrier, out: list[Asked]) -> None:
    first = number * args.questions  # round-robin over everyone's questions: all get asked
    mine = [Asked(number, QUESTIONS[(first + i) % len(QUESTIONS)]) for i in range(args.questions)]
    out.extend(mine)
    client = None
    try:
        client = _client(url, auth)
    except Exception as exc:  # every question of this user fails the same way
        for asked in mine:
            asked.error = f"connecting: {type(exc).__name__}: {exc}"
    try:
        go.wait()
        for i, asked in enumerate(mine):
            if client is None:
                break
            if i and args.think > 0:
                time.sleep(args.think)
            try:
                result = _ask(client, asked, args.timeout)
            except Exception as exc:  # each failure is a measurement
                asked.error = f"{type(exc).__name__}: {exc}".strip()
                if asked.finished is None:
                    asked.finished = time.time()
                continue
            if result is None:
                asked.error = "answer is not a JSON object"
                continue
            asked.refused = bool(result.get("refused"))
            asked.timings = {k: float(v) for k, v in (result.get("timings") or {}).items()
                             if isinstance(v, int | float)}
    except threading.BrokenBarrierError:
        pass
    finally:
        if client is not None:
            client.close()


# ------------------------------------------------------------------------------ report
def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f} %)" if whole else "0/0"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")[:300]


def report(args: argparse.Namespace, server: Server, warm_up_q: float, asked: list[Asked],
           wall: float) -> None:
    ok = [a for a in asked if a.error is None]
    errors = [a for a in asked if a.error is not None]
    refused = sum(1 for a in ok if a.refused)
    told = [a for a in asked if a.ranks]
    behind = [a for a in asked if any(r >= 1 for r in a.ranks)]

    print("## Chat under load\n")
    print(f"- command: `{shlex.join(sys.orig_argv)}`")
    print(f"- server: {server.how} at {server.url}")
    print(f"- generator: {server.generator}")
    loaded = f"models loaded in {server.warm_up_s:.1f} s (server's warm-up); " if server.warm_up_s else ""
    print(f"- warm-up: {loaded}warm-up question answered in {warm_up_q:.2f} s (not counted)")
    print()
    print("| users | questions each | questions | think s | errors | refused | wall time s "
          "| answers per minute |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    per_min = 60 * len(ok) / wall if wall > 0 else 0.0
    print(f"| {args.users} | {args.questions} | {len(asked)} | {args.think:g} | {len(errors)} "
          f"| {refused}/{len(ok)} | {wall:.1f} | {per_min:.1f} |")
    if errors:
        print("\n| errors | message |")
        print("|---:|---|")
        for message, count in Counter(a.error or "" for a in errors).most_common():
            print(f"| {count} | {_cell(message)} |")

    print("\n| told a queue position while waiting | told someone was ahead (rank ≥ 1) "
          "| highest rank told | largest queue size told | processing start seen by a poll |")
    print("|---:|---:|---:|---:|---:|")
    top_rank = max((r for a in asked for r in a.ranks), default=None)
    top_size = max((q for a in asked for q in a.queue_sizes), default=None)
    seen = sum(1 for a in ok if a.start_seen)
    print(f"| {_share(len(told), len(asked))} | {_share(len(behind), len(asked))} "
          f"| {'–' if top_rank is None else top_rank} | {'–' if top_size is None else top_size} "
          f"| {_share(seen, len(ok))} |")

    rows = [
        ("queue wait (submit → processing started)", [a.wait for a in ok]),
        ("answer latency (submit → result)", [a.latency for a in ok]),
        ("processing (started → result)", [a.processing for a in ok]),
    ]
    print(f"\n| over {len(ok)} answered questions | p50 s | p95 s | max s |")
    print("|---|---:|---:|---:|")
    for name, raw in rows:
        values = [v for v in raw if v is not None]
        print(f"| {name} | {_s(_pct(values, 0.5))} | {_s(_pct(values, 0.95))} "
              f"| {_s(max(values) if values else None)} |")

    print("\n| question | asked | errors | refused | answer latency p50 s |")
    print("|---|---:|---:|---:|---:|")
    for question in QUESTIONS:
        mine = [a for a in asked if a.question == question]
        if mine:
            answered = [a.latency for a in mine if a.error is None and a.latency is not None]
            print(f"| {question} | {len(mine)} | {sum(1 for a in mine if a.error)} "
                  f"| {sum(1 for a in mine if a.refused)} | {_s(_pct(answered, 0.5))} |")

    keys = [k for k in ("retrieve_s", "evidence_s", "first_token_s", "total_s")
            if any(k in a.timings for a in ok)]
    if keys:
        print("\n| server's own timings (answer JSON) | p50 s | p95 s | max s |")
        print("|---|---:|---:|---:|")
        for key in keys:
            values = [a.timings[key] for a in ok if key in a.timings]
            print(f"| {key} | {_s(_pct(values, 0.5))} | {_s(_pct(values, 0.95))} "
                  f"| {_s(max(values))} |")
    print(f"\nQueue positions are those the polls saw ({POLL_S} s apart, Gradio's rank: 0 = next "
          "in line); one held for less than a poll may go unseen.")
    if ok and seen < len(ok):
        print(f"For {len(ok) - seen} answers processing began and ended between two polls; "
              "their start is taken as the last poll that saw them queued.")


# ------------------------------------------------------------------------------ main
def run(args: argparse.Namespace, server: Server) -> int:
    auth = _auth(args.auth or (os.environ.get("RAG_AUTH") if args.url else None))
    _wait_for_page(server.url, time.monotonic() + args.start_timeout)
    try:
        client = _client(server.url, auth)
    except Exception as exc:
        raise SystemExit(f"cannot connect to {server.url}: {exc}") from None
    try:
        started = time.perf_counter()
        client.predict(WARM_UP_QUESTION, None, None, api_name="/ask")
        warm_up_q = time.perf_counter() - started
    finally:
        client.close()

    asked: list[Asked] = []
    go = threading.Barrier(args.users + 1)
    users = [threading.Thread(target=_user, args=(n, args, server.url, auth, go, asked),
                              name=f"user-{n}", daemon=True) for n in range(args.users)]
    for user in users:
        user.start()
    go.wait()  # every user has its client
    started = time.perf_counter()
    for user in users:
        user.join()
    wall = time.perf_counter() - started
    asked.sort(key=lambda a: (a.user, a.submitted))
    report(args, server, warm_up_q, asked, wall)
    return 1 if any(a.error for a in asked) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running `rag serve` (default: start one on the example archive)")
    parser.add_argument("--generator", help="answer backend of the server started here "
                        "(default: the configured one, llama.cpp)")
    parser.add_argument("--concurrency", type=int, help="`rag serve --concurrency` of the server "
                        "started here (default: its own, 1)")
    parser.add_argument("--users", type=int, default=20, help="people asking at once (default 20)")
    parser.add_argument("--questions", type=int, default=3, help="questions per person (default 3)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds between one person's questions (default 0)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds one question may take before it counts as an error (default 1800)")
    parser.add_argument("--start-timeout", type=float, default=900.0,
                        help="seconds to wait for the server and its warm-up (default 900)")
    parser.add_argument("--auth", metavar="USER:PASSWORD",
                        help="login of the server at --url (default $RAG_AUTH)")
    args = parser.parse_args()
    if args.users < 1 or args.questions < 1:
        parser.error("--users and --questions must be at least 1")
    if args.url and (args.generator or args.concurrency):
        parser.error("--generator and --concurrency apply only to a server started here (no --url)")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    if args.url:
        return run(args, Server(args.url, "as configured on that server", "already running"))
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        proc, server = _start_server(args, Path(tmp))
        try:
            return run(args, server)
        finally:
            _stop(proc)


if __name__ == "__main__":
    sys.exit(main())
