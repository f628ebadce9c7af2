#!/usr/bin/env bash
# Build llama-cpp-python portably, once per version and flags; print the wheel's path.
#
# Portable: every CPU library of ggml is built (GGML_BACKEND_DL, GGML_CPU_ALL_VARIANTS:
# x86-64 baseline, SSE4.2, AVX, AVX2, AVX-512, VNNI, BF16 ...) and the best one this CPU
# runs is chosen when the model loads, so one build serves any x86-64 machine rather than
# the one it was compiled on. The Sapphire Rapids library (AMX) is left out: ggml asks for
# AMX tile permission on its main thread only and its worker threads fault (llama.cpp
# issue 20824); that CPU gets the AVX-512/VNNI/BF16 library instead.
#
# The wheel is kept in a folder named by a hash of the version and every flag (including
# $CMAKE_ARGS), so changing either builds anew. Runs inside the project's venv.
set -euo pipefail

VERSION=0.3.36
FLAGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"
# The CPU libraries go beside libllama, where rag loads them from.
FLAGS="$FLAGS -DCMAKE_INSTALL_BINDIR=llama_cpp/lib"
# Only the library: not llama.cpp's tools, examples, tests, server or multimodal code.
FLAGS="$FLAGS -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
FLAGS="$FLAGS -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF ${CMAKE_ARGS:-}"
DROP="libggml-cpu-sapphirerapids.so"

KEY=$(printf '%s\n%s\n%s\n' "$VERSION" "$FLAGS" "$DROP" | sha256sum | cut -c1-16)
CACHE=${RAG_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rag-news/llama-cpp-python}
OUT="$CACHE/$VERSION-$KEY"
if ls "$OUT"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    ls "$OUT"/llama_cpp_python-*.whl | head -n 1
    exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "building llama.cpp $VERSION for every x86-64 CPU (once; about 8 minutes on 2 cores) …" >&2
export CMAKE_ARGS="$FLAGS"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
# --no-cache-dir: never a wheel pip built earlier with other flags.
python -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$WORK/built" "llama-cpp-python==$VERSION" >&2
python -m wheel unpack -d "$WORK/unpacked" "$WORK"/built/llama_cpp_python-*.whl >&2
rm -f "$WORK"/unpacked/*/llama_cpp/lib/$DROP
mkdir -p "$WORK/repacked"
python -m wheel pack -d "$WORK/repacked" "$WORK"/unpacked/* >&2
mkdir -p "$OUT"
mv "$WORK"/repacked/llama_cpp_python-*.whl "$OUT/"
ls "$OUT"/llama_cpp_python-*.whl | head -n 1
