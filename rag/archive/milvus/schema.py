"""The archive's collections in Milvus: their fields and indexes, and the manifest row."""

from __future__ import annotations

from typing import Any

FORMAT = "rag-news-milvus"
FORMAT_VERSION = 1
TEXT_PART = 16_000  # characters of article text a row holds (at most 64,000 UTF-8 bytes)
VARCHAR_MAX = 65_535  # bytes: Milvus's largest VARCHAR
BATCH = 500  # ids per `in [...]` expression, rows per insert
HNSW = {"M": 16, "efConstruction": 200}


def passage_key(passage_id: str) -> int:
    """A passage's int64 primary key: the top 63 bits of its (hex) id."""
    return int(passage_id[:16], 16) >> 1


def fit(text: str, limit: int = VARCHAR_MAX) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, between characters."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def create_archive(
    client: Any, *, passages: str, articles: str, replies: str, meta: str, dim: int,
    lexical: str, lite: bool,
) -> None:
    """The collections of a new archive, empty; the manifest is written after them (an
    archive exists once its manifest does)."""
    from pymilvus import DataType, Function, FunctionType

    c = client
    text = {"datatype": DataType.VARCHAR, "max_length": VARCHAR_MAX}

    schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("rowid", DataType.INT64, is_primary=True)
    for name in ("passage_id", "article_id", "text_hash"):
        schema.add_field(name, DataType.VARCHAR, max_length=64)
    for name in ("ordinal", "start", "end"):
        schema.add_field(name, DataType.INT64)
    for name in ("text", "title", "source", "source_name"):
        schema.add_field(name, **text)
    schema.add_field("published", DataType.VARCHAR, max_length=64)
    analyzer = "standard" if lexical == "tokens" else "jieba"
    schema.add_field("tokens", enable_analyzer=True, analyzer_params={"tokenizer": analyzer}, **text)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["tokens"], output_field_names=["sparse"]))
    index = c.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    _create_collection(c, passages, schema, index, lite=lite)

    schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=128)
    schema.add_field("article_id", DataType.VARCHAR, max_length=64)
    for name in ("part", "passages", "length", "seq"):
        schema.add_field(name, DataType.INT64)
    for name in ("key", "title", "text", "source", "source_name", "reporters", "captions",
                 "section", "subtitle"):
        schema.add_field(name, **text)
    for name in ("published", "added_at"):
        schema.add_field(name, DataType.VARCHAR, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index = c.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
    _create_collection(c, articles, schema, index, lite=lite)

    _create_keyed(c, replies, extra=("articles",), lite=lite)
    _create_keyed(c, meta, lite=lite)


def _create_collection(client: Any, name: str, schema: Any, index: Any, *, lite: bool) -> None:
    """Create and load a collection with its indexes. pymilvus polls every half second
    until an index is built; Milvus Lite builds an empty collection's index at once, so
    there it is not waited for (2.5 s of every new archive)."""
    if not lite:
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        return
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, index, sync=False)
    client.load_collection(name)


def _create_keyed(client: Any, name: str, extra: tuple[str, ...] = (), *, lite: bool) -> None:
    """A collection of string values by string key (Milvus asks for a vector field; it
    holds a constant)."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=128)
    schema.add_field("value", DataType.VARCHAR, max_length=VARCHAR_MAX)
    for name_ in extra:
        schema.add_field(name_, DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="IP")
    _create_collection(client, name, schema, index, lite=lite)
