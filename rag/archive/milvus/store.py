"""An archive kept in Milvus: opening and creating it, reading it, and its search
candidates (see the package's text)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from rag import __version__
from rag.archive.base import Filters, NewArchive, Ranked, Stored, check_manifest, new_manifest
from rag.archive.milvus.client import connect, milvus_uri, query_all, reason
from rag.archive.milvus.expressions import (
    filter_expression,
    lexical_text,
    like_literal,
    quote,
    tokens_back,
)
from rag.archive.milvus.replies import MilvusReplies
from rag.archive.milvus.schema import (
    BATCH,
    FORMAT,
    FORMAT_VERSION,
    create_archive,
)
from rag.archive.milvus.writer import MilvusWriter
from rag.archive.writer import timestamp
from rag.errors import StoreError
from rag.results import ArticleInfo
from rag.text.words import tokenize
from rag.types import Article, Hit, Passage

EF_SEARCH = 256  # HNSW candidates per query (recall, as `nprobe` for the folder's lists)


def save_manifest(client: Any, meta: str, manifest: dict[str, Any]) -> None:
    client.upsert(meta, [{"key": "manifest", "value": json.dumps(manifest, ensure_ascii=False),
                          "v": [1.0, 0.0]}])


def read_manifest(client: Any, meta: str) -> dict[str, Any] | None:
    """The manifest in the collection `meta`; None when there is none (no archive)."""
    try:
        if not client.has_collection(meta):
            return None
        client.load_collection(meta)
        rows = client.query(meta, filter='key == "manifest"', output_fields=["value"], limit=1)
    except Exception as exc:
        raise StoreError(f"cannot read the archive's manifest from Milvus ({reason(exc)})") from None
    return json.loads(rows[0]["value"]) if rows else None


class MilvusStore:
    """An archive kept in Milvus (see the package's text)."""

    kind = "milvus"

    def __init__(self, uri: str, client: Any, prefix: str, manifest: dict[str, Any]) -> None:
        self.location = uri
        # "tokens": BM25 over our tokens; "jieba": over the text, cut by Milvus's analyzer
        self.lexical = str(manifest.get("lexical", "tokens"))
        self.client = client
        self.prefix = prefix
        self.manifest = manifest
        self.passages = f"{prefix}_passages"
        self.articles = f"{prefix}_articles"
        self.meta = f"{prefix}_meta"
        self.replies = MilvusReplies(client, f"{prefix}_replies")
        self._write_lock = threading.Lock()

    # ----------------------------------------------------------------- open/create
    @classmethod
    def open(
        cls, uri: str, embedding_model: str | None = None, *,
        create: Callable[[], NewArchive] | None = None, upgrade: bool = False,
        vectors: Mapping[str, Any] | None = None, prefix: str = "rag",
    ) -> MilvusStore:
        """Open the archive whose collections are named `<prefix>_…`; refuse one of another
        format or embedding model (see `base.check_manifest`). Where there is none: with
        `create`, a new empty one as `create()` describes it; without, StoreError with
        advice. There is no older format to `upgrade` from."""
        missing = StoreError(f"no archive at {uri}: build one with `rag ingest --store {uri} PATH...`")
        lite = milvus_uri(uri) if uri.startswith("milvus:") else None
        if lite is not None and not os.path.exists(lite):
            if create is None:
                raise missing
            os.makedirs(os.path.dirname(lite) or ".", exist_ok=True)
        client = connect(uri)
        try:
            manifest = read_manifest(client, f"{prefix}_meta")
            if manifest is None and create is not None:
                return cls._create(uri, client, prefix, create())
            if manifest is None:
                raise missing
            check_manifest(manifest, uri, embedding_model, format_name=FORMAT, version=FORMAT_VERSION,
                           vectors=vectors, noun="archive", elsewhere="another --store")
        except StoreError:
            client.close()
            raise
        store = cls(uri, client, prefix, manifest)
        store._load()
        return store

    @classmethod
    def _create(cls, uri: str, client: Any, prefix: str, new: NewArchive) -> MilvusStore:
        """A new, empty archive on `client`: its collections, then its manifest (an archive
        exists once its manifest does)."""
        manifest = new_manifest(FORMAT, FORMAT_VERSION, new, vector_index="HNSW", lexical=new.lexical)
        store = cls(uri, client, prefix, manifest)
        try:
            create_archive(client, passages=store.passages, articles=store.articles,
                           replies=store.replies.collection, meta=store.meta, dim=new.dim,
                           lexical=store.lexical, lite=uri.startswith("milvus:"))
            store._save_manifest()
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot create the archive's collections in {uri} ({reason(exc)})") from None
        return store

    def _load(self) -> None:
        for name in (self.passages, self.articles, self.replies.collection):
            self.client.load_collection(name)

    def _save_manifest(self) -> None:
        save_manifest(self.client, self.meta, self.manifest)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a client that lost its server
            self.client.close()

    def warm(self) -> None:
        self._load()

    def size_bytes(self) -> int | None:
        """Bytes on disk of a Milvus Lite file; None for a server (its own business)."""
        if not self.location.startswith("milvus:"):
            return None
        root = milvus_uri(self.location)
        total = 0
        for folder, _dirs, files in os.walk(root):
            for name in files:
                with contextlib.suppress(OSError):  # a file compacted away meanwhile
                    total += os.path.getsize(os.path.join(folder, name))
        return total

    # --------------------------------------------------------------------- reading
    @property
    def lexical_index(self) -> str:
        return f"Milvus BM25 ({self.lexical})"

    @property
    def dim(self) -> int:
        return int(self.manifest["embedding"]["dim"])

    def counts(self) -> dict[str, int]:
        a = self.client.query(self.articles, filter="part == 0", output_fields=["count(*)"])
        p = self.client.query(self.passages, filter="", output_fields=["count(*)"])
        return {"articles": int(a[0]["count(*)"]), "passages": int(p[0]["count(*)"])}

    def list_articles(self) -> list[ArticleInfo]:
        rows = query_all(self.client, self.articles, "part == 0",
                           ["article_id", "title", "published", "source", "source_name",
                            "passages", "length", "seq"])
        rows.sort(key=lambda r: r["seq"])  # insertion order, as the folder's row ids
        rows.sort(key=lambda r: r["published"] or "", reverse=True)
        rows.sort(key=lambda r: not r["published"])
        return [ArticleInfo(r["article_id"], r["title"], r["published"] or None, r["source"],
                            r["source_name"] or None, int(r["passages"]), int(r["length"]))
                for r in rows]

    def article(self, article_id: str) -> Article | None:
        rows = self.client.query(
            self.articles, filter=f"article_id == {quote(article_id)}",
            output_fields=["part", "key", "title", "text", "source", "published", "source_name",
                           "reporters", "captions", "section", "subtitle"])
        if not rows:
            return None
        rows.sort(key=lambda r: r["part"])
        r = rows[0]
        return Article(
            id=article_id, key=r["key"], title=r["title"], text="".join(x["text"] for x in rows),
            source=r["source"], published=r["published"] or None,
            source_name=r["source_name"] or None, reporters=tuple(json.loads(r["reporters"])),
            captions=tuple(json.loads(r["captions"])), section=r["section"] or None,
            subtitle=r["subtitle"] or None,
        )

    def latest_published(self) -> str | None:
        rows = query_all(self.client, self.articles, 'part == 0 and published != ""', ["published"])
        return max((r["published"] for r in rows), default=None)

    def article_keys(self) -> dict[str, str]:
        return {r["article_id"]: r["key"] for r in query_all(self.client, self.articles, "part == 0", ["article_id", "key"])}

    def find_articles(self, prefix: str) -> list[str]:
        rows = self.client.query(self.articles, filter=f"part == 0 and article_id like {quote(like_literal(prefix) + '%')}",
                                 output_fields=["article_id"], limit=100)
        return sorted(r["article_id"] for r in rows)

    def passages_of(self, article_id: str) -> list[Passage]:
        rows = query_all(self.client, self.passages, f"article_id == {quote(article_id)}",
                           ["passage_id", "ordinal", "start", "end", "text"])
        rows.sort(key=lambda r: r["ordinal"])
        return [Passage(r["passage_id"], article_id, int(r["ordinal"]), int(r["start"]), int(r["end"]),
                        r["text"]) for r in rows]

    def article_vectors(self, article_ids: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(article_ids), BATCH):
            part = list(article_ids[i : i + BATCH])
            rows = self.client.query(
                self.articles, filter=f"part == 0 and article_id in {json.dumps(part)}",
                output_fields=["article_id", "vector"])
            for r in rows:
                out[r["article_id"]] = np.asarray(r["vector"], dtype=np.float32)
        return {a: out[a] for a in article_ids if a in out}

    def candidates(
        self, query_vector: np.ndarray | None, query_tokens: list[str] | None, n: int,
        filters: Filters, nprobe: int,
    ) -> tuple[Ranked, Ranked]:
        expr = filter_expression(filters)
        dense: Ranked = []
        lexical: Ranked = []
        if query_vector is not None:
            found = self.client.search(
                self.passages, data=[np.asarray(query_vector, dtype=np.float32).tolist()],
                anns_field="vector", limit=n, filter=expr,
                search_params={"metric_type": "IP", "params": {"ef": max(EF_SEARCH, n)}})
            dense = [(int(h.id), float(h.distance)) for h in found[0]]
        if query_tokens:
            text = lexical_text(query_tokens) if self.lexical == "tokens" else " ".join(query_tokens)
            if text:
                found = self.client.search(
                    self.passages, data=[text], anns_field="sparse", limit=n, filter=expr,
                    search_params={"metric_type": "BM25"})
                # Milvus Lite reports BM25 negated (smaller is nearer); the order is the same.
                lexical = [(int(h.id), abs(float(h.distance))) for h in found[0]]
        return dense, lexical

    def passages_by_rowid(self, rowids: Sequence[int]) -> dict[int, Hit]:
        out: dict[int, Hit] = {}
        for i in range(0, len(rowids), BATCH):
            part = [int(r) for r in rowids[i : i + BATCH]]
            rows = self.client.get(self.passages, ids=part, output_fields=[
                "passage_id", "article_id", "ordinal", "start", "end", "text", "title", "published",
                "source"])
            for r in rows:
                out[int(r["rowid"])] = Hit(
                    0, Passage(r["passage_id"], r["article_id"], int(r["ordinal"]), int(r["start"]),
                               int(r["end"]), r["text"]),
                    r["title"], r["published"] or None, r["source"], 0.0)
        return out

    def export(self) -> Iterator[Stored]:
        """Every article with its passages, tokens and vectors (as `Store.export`)."""
        for info in self.list_articles():
            article = self.article(info.id)
            if article is None:
                continue
            rows = query_all(self.client, self.passages, f"article_id == {quote(info.id)}",
                               ["passage_id", "ordinal", "start", "end", "text", "text_hash", "vector",
                                "tokens"])
            rows.sort(key=lambda r: r["ordinal"])
            yield Stored(
                article,
                [Passage(r["passage_id"], info.id, int(r["ordinal"]), int(r["start"]), int(r["end"]),
                         r["text"]) for r in rows],
                [tokens_back(r["tokens"]) if self.lexical == "tokens" else tokenize(r["tokens"])
                 for r in rows],
                [r["text_hash"] for r in rows],
                np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(-1, self.dim),
            )

    # --------------------------------------------------------------------- writing
    @contextmanager
    def writer(self) -> Iterator[MilvusWriter]:
        """The writer of this archive. Writes by this process are serialized; Milvus
        itself takes writes from several processes (Milvus Lite: one process per file)."""
        if not self._write_lock.acquire(blocking=False):
            raise StoreError(f"another ingest is writing to {self.location}; wait for it to finish")
        writer = MilvusWriter(self.client, self.passages, self.articles, self.dim, self.lexical)
        try:
            yield writer
        finally:
            try:
                if writer.changed:
                    self.client.flush(self.passages)
                    self.client.flush(self.articles)
                    self.manifest = {**self.manifest, "updated_at": timestamp(),
                                     "rag_version": __version__}
                    self._save_manifest()
                self.replies.forget(writer.deleted)
            finally:
                self._write_lock.release()
