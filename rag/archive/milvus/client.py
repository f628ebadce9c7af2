"""Connecting to Milvus: Milvus Lite's file (`milvus:FILE.db`) or a server's address."""

from __future__ import annotations

import logging
import os
from typing import Any

from rag.errors import StoreError


def milvus_uri(uri: str) -> str:
    """What pymilvus connects to: the file of `milvus:FILE.db`, else the address."""
    if uri.startswith("milvus:"):
        path = uri[len("milvus:"):]
        if not path.endswith(".db"):
            raise StoreError(f"store {uri!r}: a Milvus Lite file must end in .db (milvus:./archive.db)")
        return os.path.abspath(os.path.expanduser(path))
    return uri.replace("tcp://", "http://", 1)


def connect(uri: str) -> Any:
    """A pymilvus client of the Milvus at `uri`; StoreError, with advice, if there is none."""
    # gRPC's core logs a line at each fork (Ray's workers) while its channel is open.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        from pymilvus import MilvusClient
    except ImportError:  # pragma: no cover - a dependency of the project
        raise StoreError("the Milvus store needs pymilvus: pip install 'pymilvus[milvus-lite]'") from None
    # pymilvus logs each failed call with its traceback and warns of client-side
    # timestamps in iterators; failures reach the user as StoreError instead.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    # Milvus Lite's in-process gRPC server logs each call it does not implement (an
    # iterator's timestamp request, which pymilvus then makes itself) as an error.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)  # its failure is ours to tell
    token = os.environ.get("MILVUS_TOKEN", "")
    try:
        return MilvusClient(uri=milvus_uri(uri), token=token)
    except StoreError:
        raise
    except Exception as exc:  # pymilvus raises its own and gRPC errors
        if uri.startswith("milvus:") and _locked(milvus_uri(uri)):
            raise StoreError(
                f"another process has the Milvus Lite file {uri} open, and Milvus Lite serves "
                "one process at a time. To share it, serve it with `milvus-lite server "
                f"--data-dir {milvus_uri(uri)} --port 19530` and use --store http://127.0.0.1:19530"
            ) from None
        raise StoreError(f"cannot connect to the Milvus store {uri} ({reason(exc)})") from None


def query_all(client: Any, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every row matching `expr`, in batches (a server caps one query's rows)."""
    rows: list[dict[str, Any]] = []
    iterator = client.query_iterator(collection, batch_size=1000, filter=expr, output_fields=fields)
    try:
        while True:
            batch = iterator.next()
            if not batch:
                return rows
            rows.extend(batch)
    finally:
        iterator.close()


def reason(exc: BaseException) -> str:
    """The first line of a pymilvus or gRPC error, for a message."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message.splitlines()[0][:300]


def _locked(path: str) -> bool:
    """Whether another process holds Milvus Lite's lock on the data folder at `path`."""
    import fcntl

    try:
        fd = os.open(os.path.join(path, "LOCK"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
