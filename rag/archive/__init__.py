"""The archive: the index on disk and everything that reads or changes it.

- `base`: the store boundary the service talks to, the checks every archive passes
  (format, embedding) and the one write loop; `stores`: which store keeps the archive a
  URI names (`open_archive`), and copying between archives;
- `store`: the index folder — SQLite (the truth), FAISS and BM25 (derived), manifest;
- `milvus/`: the archive in Milvus (a server, or Milvus Lite): vectors, BM25, metadata,
  in modules named as the folder store's (store, writer, replies), with its schema and
  filter expressions;
- `writer`: the folder's SQLite tables, and changes to them, made by the one process
  holding the write lock;
- `update`: ingest — reconcile files with the index, embed only new text;
- `distributed`: the same ingest with files read and passages embedded on Ray;
- `vectors`: the FAISS index; `lexical`: the BM25 index (written beside it);
- `search`: hybrid retrieval, dense and BM25 fused by reciprocal rank, with filters;
- `reading`: search over a few given texts with no index (answer from these only).

May import: the shared modules, `rag.text`, `rag.ingest`, `rag.models`.
"""
