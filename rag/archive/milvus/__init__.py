"""The archive in Milvus: passages, vectors, article metadata and BM25, no local file.

Chosen with `--store` / `RAG_STORE`:

- `milvus:./archive.db`: Milvus Lite, one local file (tests and small installs; one
  process at a time, or run `milvus-lite server` and use its address);
- `http://host:19530` (or `https://`, `tcp://`): a Milvus server or cluster, which any
  number of `rag serve` replicas can answer from at once. `MILVUS_TOKEN` is sent as
  the token (`user:password` or an API key) when set.

Four collections, named `<prefix>_…` (`RAG_MILVUS_PREFIX`, default `rag`):

    passages  one row a passage: its text and offsets, its article's title, date and
              source (what an answer shows), the float32 vector (dense index), and the
              passage's jieba tokens, from which Milvus's own BM25 function makes the
              sparse vector it searches (full-text index)
    articles  one row an article (or per 16,000 characters of a long one): its text and
              metadata, and its mean passage vector (what briefs group stories by)
    meta      the archive's manifest: embedding model, dimension, checksum, chunking
    replies   model replies for summaries and briefs (see ../replies.py), shared by replicas

The lexical index is Milvus's BM25 over our own tokens (the same `tokenize` the folder
store indexes and `tokenize_query` searches with), written so that Milvus's standard
analyzer keeps each token whole: every server with BM25 full-text search (Milvus 2.5+,
Milvus Lite) then ranks by the same words the folder does. An archive created with
`RAG_MILVUS_LEXICAL=jieba` instead gives Milvus the passage's text and lets its own jieba
analyzer cut it (README, "Past one machine", compares the two). Fusion stays reciprocal-rank
(`search.Retriever`); date and source filters are Milvus filter expressions.

Milvus has no transactions. A passage row is keyed by its passage id and written before
its article's row, and an article counts as stored once its row exists, so an interrupted
ingest leaves at most passages that the next ingest of the file writes over (upsert).

The package keeps apart what the folder store keeps apart:

- `store`: `MilvusStore`, the open archive (reading, search candidates, export);
- `writer`: `MilvusWriter`, its changes;
- `replies`: `MilvusReplies`, the reply cache;
- `schema`: the collections, their fields and indexes, and the manifest row;
- `expressions`: what is written in Milvus's own languages: filter expressions, and our
  tokens as the text its analyzer reads;
- `client`: connecting (Milvus Lite's file, or a server's address).
"""
