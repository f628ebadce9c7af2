"""Our pipeline beside a plain LangChain + FAISS pipeline on the same models, in one run.

LangChain is not a dependency of rag; install it beside the project, then run from the
repository root:

    .venv/bin/pip install --target /tmp/lc --no-deps langchain-core langchain-community \\
        langchain-text-splitters uuid-utils jsonpatch jsonpointer langsmith sniffio xxhash \\
        distro requests-toolbelt tenacity langchain-protocol
    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=/tmp/lc .venv/bin/python bench/langchain_baseline.py [--limit N]
        [--archive ../shared/corpus/seed] [--questions tests/data/seed_questions.jsonl]
        [--rag PATH] [--no-peer]

The questions of answer_bench are asked in file order and then shuffled (seed 0), each
question by both pipelines in turn, after one uncounted warm-up question each; then ours
holds a 10-turn chat about the page (follow-ups rewritten). Each model keeps its own
cache: ours in its worker process, the peer's in this one.

Ours: `Service` with the configured generator (llama.cpp in a worker process). `--rag
PATH` imports `rag` from another checkout (a worktree of an earlier commit) instead,
to compare ours before and after in one session; `--no-peer` leaves the peer out.

The peer: the .txt/.md files of --archive read as they are (no segmentation or cleaning)
-> RecursiveCharacterTextSplitter (500 characters, overlap 50, Chinese separators) ->
multilingual-e5-small from the rag model cache ("query: " / "passage: " prefixes) ->
FAISS, top 4 chunks -> the bundled Qwen2.5-Coder-1.5B GGUF through ChatLlamaCpp (the
GGUF's chat template, greedy, 2 threads, n_ctx 4096, streamed) with a one-line prompt.
Nothing is downloaded.

Correct: ours, not refused, an answer string in the answer and a cited passage holding
the evidence (answer_bench's rule); the peer, which cites nothing, not refused and an
answer string in the answer. Refused: on unanswerable questions, the share refused.
Times from the question: first token of the model's answer, and total (retrieval,
generation and, for ours, the checks). Prompt tokens: of every prompt the model read for
the answer; prefilled: those not found in its cache (prompt − reused).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*langchain-community.*")

REFUSAL = "资料中没有相关信息"
PROMPT = f"只根据下面的资料回答问题；资料中没有答案时回答：{REFUSAL}。\n资料：{{context}}\n问题：{{question}}\n答案："
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", ",", " ", ""]
WARM_UP = "这份资料主要讲了什么？"
CHAT = [  # ten turns about the seed page, follow-ups among them
    "柳林县境内一共有多少座煤矿？",
    "其中建成了几座智能化煤矿？",
    "有几座煤矿的5G信号通到了井下？",
    "它已经探明的煤炭储量有多少？",
    "智能化改造每年能带来多少经济效益？",
    "接受采访的县委书记叫什么名字？",
    "岔沟村日间照料中心是哪一年建成开办的？",
    "那里设有多少张床位？",
    "老人一天的伙食费是多少？",
    "每天在那里吃饭的老人有多少？",
]


@dataclass
class Asked:
    answer: str
    correct: bool
    refused: bool
    first_token: float | None
    total: float
    prompt_tokens: int | None
    reused: int | None


def norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pct(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def common_start(a: Any, b: Any) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


# ------------------------------------------------------------------ ours
def ours(archive: Path, tmp: Path) -> tuple[Callable[..., Asked], str, Any]:
    from rag.config import Settings
    from rag.service import Service

    service = Service(Settings.load(index_dir=tmp / "index"))
    service.ingest([archive])
    service.warm_up()

    def ask(q: dict[str, Any], history: list[tuple[str, str]] | None = None) -> Asked:
        a = service.ask(q["question"], history=history or [])
        ok_text = not a.refused and any(norm(x) in norm(a.answer) for x in q.get("answer", []))
        ok_cite = any(norm(q.get("evidence", "")) in norm(c.text) for c in a.citations) if q.get("evidence") else True
        t = a.timings
        return Asked(a.answer, ok_text and ok_cite, a.refused, t.get("first_token_s"), t["total_s"],
                     int(t["prompt_tokens"]) if "prompt_tokens" in t else None,
                     int(t["reused_tokens"]) if "reused_tokens" in t else None)

    ask({"question": WARM_UP})
    return ask, service.generator.name, service


# ------------------------------------------------------------------ the peer
def peer(archive: Path, threads: int, k: int, generator_file: str, embedding_folder: str) -> Callable[..., Asked]:
    try:
        from langchain_community.chat_models import ChatLlamaCpp
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document
        from langchain_core.embeddings import Embeddings
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnablePassthrough
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as exc:
        sys.exit(f"{exc}\nLangChain is not installed; see the pip line in the docstring of {__file__} "
                 "and run with PYTHONPATH=/tmp/lc (or pass --no-peer)")

    class E5Embeddings(Embeddings):
        """multilingual-e5-small through sentence-transformers, with e5's prefixes."""

        def __init__(self) -> None:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            torch.set_num_threads(threads)
            self.model = SentenceTransformer(embedding_folder, device="cpu", local_files_only=True)
            self.model.eval()

        def _encode(self, texts: list[str]) -> list[list[float]]:
            return self.model.encode(texts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False).tolist()

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self._encode([f"passage: {t}" for t in texts])

        def embed_query(self, text: str) -> list[float]:
            return self._encode([f"query: {text}"])[0]

    files = sorted(p for p in archive.rglob("*") if p.is_file() and p.suffix in (".txt", ".md"))
    docs = [Document(page_content=p.read_text(encoding="utf-8", errors="replace"), metadata={"source": str(p)})
            for p in files]
    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50, separators=SEPARATORS,
                                              keep_separator="end")
    retriever = FAISS.from_documents(splitter.split_documents(docs), E5Embeddings()).as_retriever(
        search_kwargs={"k": k})
    from rag.service import Service

    Service.load_llama_cpp()  # the peer's llama.cpp runs in this process
    llm = ChatLlamaCpp(model_path=generator_file, n_ctx=4096, n_batch=512, n_threads=threads,
                       model_kwargs={"n_threads_batch": threads}, temperature=0.0, repeat_penalty=1.0,
                       max_tokens=256, seed=0, streaming=True, verbose=False)
    # The prompt tokens llama.cpp is handed, and how many of them its cache already holds.
    client, seen = llm.client, {}
    generate = client.generate

    def counted(tokens: Any, *args: Any, **kwargs: Any) -> Any:
        same = common_start(client.input_ids, tokens)
        seen["prompt"], seen["reused"] = len(tokens), same - 1 if same == len(tokens) else same
        return generate(tokens, *args, **kwargs)

    client.generate = counted
    chain = ({"context": retriever | (lambda found: "\n\n".join(d.page_content for d in found)),
              "question": RunnablePassthrough()}
             | ChatPromptTemplate.from_messages([("human", PROMPT)]) | llm | StrOutputParser())

    def ask(q: dict[str, Any]) -> Asked:
        seen.clear()
        started, first, parts = time.perf_counter(), None, []
        for part in chain.stream(q["question"]):
            if part and first is None:
                first = time.perf_counter() - started
            parts.append(part)
        total = time.perf_counter() - started
        answer = "".join(parts).strip()
        refused = not answer or REFUSAL in answer
        ok = not refused and any(norm(x) in norm(answer) for x in q.get("answer", []))
        return Asked(answer, ok, refused, first, total, seen.get("prompt"), seen.get("reused"))

    ask({"question": WARM_UP})
    return ask


# ------------------------------------------------------------------ tables
def row(name: str, order: str, asked: list[tuple[dict[str, Any], Asked]]) -> str:
    answerable = [a for q, a in asked if q["answerable"]]
    unanswerable = [a for q, a in asked if not q["answerable"]]
    first = [a.first_token for _, a in asked if a.first_token is not None]
    total = [a.total for _, a in asked]
    prompt = [a.prompt_tokens for _, a in asked if a.prompt_tokens is not None]
    filled = [a.prompt_tokens - a.reused for _, a in asked if a.prompt_tokens is not None and a.reused is not None]
    reused = sum(a.reused or 0 for _, a in asked) / max(1, sum(prompt))

    def secs(xs: list[float], q: float) -> str:
        return f"{pct(xs, q):.2f}" if xs else "–"

    return (f"| {name} | {order} | {sum(a.correct for a in answerable)}/{len(answerable)} "
            f"| {sum(a.refused for a in unanswerable)}/{len(unanswerable)} "
            f"| {secs(first, 0.5)} | {secs(first, 0.95)} | {secs(total, 0.5)} | {secs(total, 0.95)} "
            f"| {statistics.median(prompt) if prompt else '–'} | {statistics.median(filled) if filled else '–'} "
            f"| {reused:.0%} |" if prompt else
            f"| {name} | {order} | {sum(a.correct for a in answerable)}/{len(answerable)} "
            f"| {sum(a.refused for a in unanswerable)}/{len(unanswerable)} "
            f"| {secs(first, 0.5)} | {secs(first, 0.95)} | {secs(total, 0.5)} | {secs(total, 0.95)} | – | – | – |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=REPO.parent / "shared/corpus/seed")
    parser.add_argument("--questions", type=Path, default=REPO / "tests/data/seed_questions.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="per kind (answerable / not)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=4, help="chunks the peer shows the model")
    parser.add_argument("--rag", type=Path, default=REPO, help="the checkout whose rag is ours")
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="ours alone")
    args = parser.parse_args()
    sys.path.insert(0, str(args.rag.resolve()))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(args.rag.resolve()), os.environ.get("PYTHONPATH", "")])
    import rag

    items = [json.loads(x) for x in args.questions.read_text(encoding="utf-8").splitlines() if x.strip()]
    items = ([q for q in items if q["answerable"]][: args.limit]
             + [q for q in items if not q["answerable"]][: args.limit])
    items.sort(key=lambda q: q["id"])  # file order
    shuffled = items[:]
    random.Random(0).shuffle(shuffled)

    with tempfile.TemporaryDirectory() as tmp:
        mine, generator, service = ours(args.archive, Path(tmp))
        theirs = None
        if args.peer:
            files = service.model_files()
            theirs = peer(args.archive, args.threads, args.k, files["generator"], files["embedding"])
        runs: dict[tuple[str, str], list[tuple[dict[str, Any], Asked]]] = {}
        for order, questions in (("file order", items), ("shuffled", shuffled)):
            for q in questions:
                runs.setdefault(("ours", order), []).append((q, mine(q)))
                if theirs is not None:
                    runs.setdefault(("LangChain", order), []).append((q, theirs(q)))
                print(f"{order} {q['id']}", file=sys.stderr, flush=True)
        chat: list[Asked] = []
        history: list[tuple[str, str]] = []
        for text in CHAT:
            asked = mine({"question": text}, history)
            chat.append(asked)
            history += [("user", text), ("assistant", asked.answer)]
        service.close()

    print(f"\nours: rag from {args.rag} ({Path(rag.__file__).parent}), {generator}; "
          f"{len(items)} questions of {args.questions.name} on {args.archive.name}, threads={args.threads}\n")
    print("| pipeline | order | correct | refused (unanswerable) | first token p50 s | p95 s | total p50 s "
          "| p95 s | prompt tokens p50 | prefilled p50 | reused of all prompt tokens |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (name, order), asked in runs.items():
        print(row(name, order, asked))
    if ("LangChain", "file order") in runs:
        for order in ("file order", "shuffled"):
            ratio = (statistics.median(a.total for _, a in runs[("ours", order)])
                     / statistics.median(a.total for _, a in runs[("LangChain", order)]))
            print(f"\n{order}: our total p50 / the peer's = {ratio:.2f}")
    print("\nours, a 10-turn chat (follow-ups rewritten):\n")
    print("| turn | question | first token s | total s | prompt tokens | prefilled |")
    print("|---:|---|---:|---:|---:|---:|")
    for i, (text, a) in enumerate(zip(CHAT, chat, strict=True), start=1):
        filled = a.prompt_tokens - a.reused if a.prompt_tokens is not None and a.reused is not None else "–"
        first = f"{a.first_token:.2f}" if a.first_token is not None else "–"
        print(f"| {i} | {text} | {first} | {a.total:.2f} | {a.prompt_tokens if a.prompt_tokens is not None else '–'} "
              f"| {filled} |")
    later = [a.first_token for a in chat[1:] if a.first_token is not None]
    if later:
        print(f"\nfirst token after the first turn: p50 {statistics.median(later):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
