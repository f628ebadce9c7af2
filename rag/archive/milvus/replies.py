"""Model replies kept in a Milvus collection, `<prefix>_replies` (the interface of the
folder's `archive/replies.py`): a cache shared by every reader of the archive; if Milvus
fails, the model is asked."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rag.archive.milvus.expressions import quote
from rag.archive.milvus.schema import fit

log = logging.getLogger(__name__)


class MilvusReplies:
    def __init__(self, client: Any, collection: str) -> None:
        self.client = client
        self.collection = collection

    def get(self, key: str) -> str | None:
        try:
            rows = self.client.query(self.collection, filter=f"key == {quote(key)}",
                                     output_fields=["value"], limit=1)
        except Exception as exc:
            log.debug("reply cache %s unreadable: %s", self.collection, exc)
            return None
        return rows[0]["value"] if rows else None

    def put(self, key: str, reply: str, article_ids: Sequence[str]) -> None:
        try:
            self.client.upsert(self.collection, [{
                "key": key, "value": fit(reply), "articles": fit(" ".join(article_ids)),
                "v": [1.0, 0.0]}])
        except Exception as exc:
            log.debug("reply cache %s not written: %s", self.collection, exc)

    def forget(self, article_ids: Sequence[str]) -> int:
        n = 0
        for a in article_ids:
            try:
                result = self.client.delete(self.collection, filter=f"articles like {quote('%' + a + '%')}")
                n += int(result.get("delete_count", 0)) if isinstance(result, dict) else 0
            except Exception as exc:
                log.debug("reply cache %s not pruned: %s", self.collection, exc)
        return n

    def __len__(self) -> int:
        try:
            return int(self.client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])
        except Exception:
            return 0
