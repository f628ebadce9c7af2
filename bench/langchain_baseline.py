"""A plain LangChain + FAISS pipeline on the same models, asked the questions of answer_bench.

LangChain is not a dependency of rag; install it beside the project, then run from the
repository root:

    .venv/bin/pip install --target /tmp/lc --no-deps langchain-core langchain-community \\
        langchain-text-splitters uuid-utils jsonpatch jsonpointer langsmith sniffio xxhash \\
        distro requests-toolbelt tenacity langchain-protocol
    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=/tmp/lc .venv/bin/python bench/langchain_baseline.py [--limit N]
        [--archive ../shared/corpus/seed] [--questions tests/data/seed_questions.jsonl]

Pipeline: the .txt/.md files of --archive read as they are (no
segmentation or cleaning) -> RecursiveCharacterTextSplitter (500 characters, overlap 50,
Chinese separators) -> multilingual-e5-small from the rag model cache ("query: " /
"passage: " prefixes) -> FAISS, top 4 chunks -> the bundled Qwen2.5-Coder-1.5B GGUF through
ChatLlamaCpp (the GGUF's chat template, greedy, 2 threads, n_ctx 4096) with a one-line
prompt. Nothing is downloaded.

Correct: not refused and an answer string occurs in the answer (this pipeline cites
nothing, so no citation check). Refused: the answer says 资料中没有相关信息 or is empty;
on unanswerable questions, the share refused. Time: from the question to the full answer
(retrieval and generation), after one uncounted warm-up question.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*langchain-community.*")

try:
    from langchain_community.chat_models import ChatLlamaCpp
    from langchain_community.vectorstores import FAISS
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.outputs import LLMResult
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_text_splitters import RecursiveCharacterTextSplitter
except ImportError as exc:
    sys.exit(f"{exc}\nLangChain is not installed; see the pip line in the docstring of {__file__} "
             "and run with PYTHONPATH=/tmp/lc")

from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402

REFUSAL = "资料中没有相关信息"
PROMPT = f"只根据下面的资料回答问题；资料中没有答案时回答：{REFUSAL}。\n资料：{{context}}\n问题：{{question}}\n答案："
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", ",", " ", ""]
WARM_UP = "这份资料主要讲了什么？"


class E5Embeddings(Embeddings):
    """multilingual-e5-small through sentence-transformers, with e5's prefixes."""

    def __init__(self, folder: str, threads: int, batch_size: int = 8) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        torch.set_num_threads(threads)
        self.model = SentenceTransformer(folder, device="cpu", local_files_only=True)
        self.model.eval()
        self.batch_size = batch_size

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return vectors.tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode([f"passage: {t}" for t in texts])

    def embed_query(self, text: str) -> list[float]:
        return self._encode([f"query: {text}"])[0]


class PromptTokens(BaseCallbackHandler):
    """Remembers the prompt tokens llama.cpp reports for the last call."""

    def __init__(self) -> None:
        self.last: int | None = None

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        usage = (response.llm_output or {}).get("token_usage") or {}
        self.last = usage.get("prompt_tokens")


def norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def refused(answer: str) -> bool:
    return not answer.strip() or REFUSAL in answer


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)] if xs else 0.0


def read_documents(archive: Path) -> list[Document]:
    """The text files of `archive` as they are: no cleaning, no splitting into articles."""
    files = sorted(p for p in archive.rglob("*") if p.is_file() and p.suffix in (".txt", ".md"))
    return [Document(page_content=p.read_text(encoding="utf-8", errors="replace"),
                     metadata={"source": str(p)}) for p in files]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=REPO.parent / "shared/corpus/seed")
    parser.add_argument("--questions", type=Path, default=REPO / "tests/data/seed_questions.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="per kind (answerable / not)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=4, help="chunks shown to the model")
    args = parser.parse_args()
    items = [json.loads(x) for x in args.questions.read_text(encoding="utf-8").splitlines() if x.strip()]
    answerable = [q for q in items if q["answerable"]][: args.limit]
    unanswerable = [q for q in items if not q["answerable"]][: args.limit]

    start = time.perf_counter()
    docs = read_documents(args.archive)
    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50,
                                              separators=SEPARATORS, keep_separator="end")
    chunks = splitter.split_documents(docs)
    files = Service(Settings.load()).model_files()
    embeddings = E5Embeddings(files["embedding"], args.threads)
    store = FAISS.from_documents(chunks, embeddings)
    retriever = store.as_retriever(search_kwargs={"k": args.k})
    index_s = time.perf_counter() - start

    start = time.perf_counter()
    llm = ChatLlamaCpp(
        model_path=files["generator"],
        n_ctx=4096,
        n_batch=512,
        n_threads=args.threads,
        model_kwargs={"n_threads_batch": args.threads},
        temperature=0.0,
        repeat_penalty=1.0,
        max_tokens=256,
        seed=0,
        streaming=False,
        verbose=False,
    )
    load_s = time.perf_counter() - start

    def context(found: list[Document]) -> str:
        return "\n\n".join(d.page_content for d in found)

    chain = (
        {"context": retriever | context, "question": RunnablePassthrough()}
        | ChatPromptTemplate.from_messages([("human", PROMPT)])
        | llm
        | StrOutputParser()
    )
    tokens = PromptTokens()

    def ask(question: str) -> tuple[str, float, int | None]:
        tokens.last = None
        t0 = time.perf_counter()
        answer = chain.invoke(question, config={"callbacks": [tokens]})
        return answer.strip(), time.perf_counter() - t0, tokens.last

    ask(WARM_UP)
    total: list[float] = []
    prompt_tokens: list[int] = []
    correct, wrong = 0, []
    for q in answerable:
        answer, seconds, n = ask(q["question"])
        total.append(seconds)
        prompt_tokens += [n] if n is not None else []
        ok = not refused(answer) and any(norm(x) in norm(answer) for x in q["answer"])
        correct += ok
        if not ok:
            wrong.append((q["id"], q["question"], answer))
    n_refused, confident = 0, []
    for q in unanswerable:
        answer, seconds, n = ask(q["question"])
        total.append(seconds)
        prompt_tokens += [n] if n is not None else []
        n_refused += refused(answer)
        if not refused(answer):
            confident.append((q["id"], q["question"], answer))

    print(f"\nLangChain + FAISS on {args.archive.name}: {len(docs)} documents, {len(chunks)} chunks "
          f"(indexed in {index_s:.1f} s, model loaded in {load_s:.1f} s), top {args.k}, "
          f"threads={args.threads}; {len(answerable)} answerable, {len(unanswerable)} unanswerable\n")
    print("| correct (answer string) | refused when unanswerable | total p50 s | total p95 s "
          "| prompt tokens p50 |")
    print("|---:|---:|---:|---:|---:|")
    tokens_p50 = f"{statistics.median(prompt_tokens):.0f}" if prompt_tokens else "n/a"
    print(f"| {correct}/{len(answerable)} ({correct / max(1, len(answerable)):.0%}) "
          f"| {n_refused}/{len(unanswerable)} ({n_refused / max(1, len(unanswerable)):.0%}) "
          f"| {statistics.median(total) if total else 0:.1f} | {p95(total):.1f} | {tokens_p50} |")
    print("\nnot correct:", *wrong, sep="\n  ")
    print("\nanswered though unanswerable:", *confident, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
