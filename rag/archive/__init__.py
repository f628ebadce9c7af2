"""The archive: the index on disk and everything that reads or changes it.

- `store`: the index folder — SQLite (the truth), FAISS and BM25 (derived), manifest;
- `writer`: changes, made by the one process holding the write lock;
- `update`: ingest — reconcile files with the index, embed only new text;
- `vectors`: the FAISS index; `lexical`: the BM25 index (written beside it);
- `search`: hybrid retrieval, dense and BM25 fused by reciprocal rank, with filters;
- `reading`: search over a few given texts with no index (answer from these only).

May import: the shared modules, `rag.text`, `rag.ingest`, `rag.models`.
"""
