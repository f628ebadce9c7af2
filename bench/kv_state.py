"""Would saving llama.cpp's KV state of a popular article's passages pay off?

    python bench/kv_state.py [--archive ../shared/corpus/seed] [--tokens 1200]

Reads the first passages of --archive (about --tokens tokens) into the bundled model the
way an answer prompt does, then times, on this machine: prefilling them from nothing;
saving the state with llama-cpp-python's `save_state` (and its size); restoring it with
`load_state` and reading one more question. A restored prefix pays off only if restoring
costs clearly less than reading the prefix again, and if the prompts to come start with
exactly that prefix.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402
from rag.service import Service  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=REPO.parent / "shared/corpus/seed")
    parser.add_argument("--tokens", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from llama_cpp import Llama
    Service.load_llama_cpp()
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(Settings.load(index_dir=Path(tmp) / "index", generator="extractive"))
        service.ingest([args.archive])
        passages = [p for a in service.articles() for p in service.passages(a.id)]
        files = service.model_files()
        threads = service.settings.threads
        service.close()
    llm = Llama(model_path=files["generator"], n_ctx=4096, n_batch=512, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    text, tokens = "", []
    for p in passages:
        text += p.text + "\n"
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) >= args.tokens:
            break
    question = llm.tokenize("\n问题：这篇报道的主要数字是什么？".encode(), add_bos=False, special=False)

    prefill, save, load, size = [], [], [], 0
    for _ in range(args.repeats):
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        prefill.append(time.perf_counter() - started)
        started = time.perf_counter()
        state = llm.save_state()
        save.append(time.perf_counter() - started)
        size = state.llama_state_size + state.scores.nbytes + state.input_ids.nbytes
        llm.reset()
        started = time.perf_counter()
        llm.load_state(state)
        llm.eval(question)
        load.append(time.perf_counter() - started)
    print(f"\n{len(tokens)} prefix tokens, threads={threads}, {args.repeats} repeats (p50)\n")
    print("| step | seconds |")
    print("|---|---:|")
    print(f"| prefill the prefix from nothing | {statistics.median(prefill):.2f} |")
    print(f"| save_state ({size / 2**20:.0f} MB, of which logits {state.scores.nbytes / 2**20:.0f} MB) "
          f"| {statistics.median(save):.2f} |")
    print(f"| load_state + read a {len(question)}-token question | {statistics.median(load):.2f} |")
    llm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
