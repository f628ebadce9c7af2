"""For benchmarks that load llama.cpp themselves (a peer pipeline, raw state timing): the
portable build keeps one CPU library per instruction-set level beside libllama, which
ggml does not look for there; `rag` loads it in its model worker, this for the bench's own
process."""

from __future__ import annotations

import ctypes
from pathlib import Path


def load_cpu_library() -> None:
    from llama_cpp import llama_cpp as lib

    handle = lib._lib
    count = handle.ggml_backend_reg_count
    count.restype = ctypes.c_size_t
    if count() == 0:
        load = handle.ggml_backend_load_all_from_path
        load.argtypes = [ctypes.c_char_p]
        load.restype = None
        load(str(Path(lib.__file__).parent / "lib").encode())
