"""The per-item log of a run (`items.jsonl`), appended item by item so a run can resume.

A crash or Ctrl-C loses at most the item in flight: every finished item is one complete
line, flushed to disk before the next starts. Restarting the same command skips the ids
already in the log. The settings that decide the results are kept in `run.json`; a
restart with different ones is refused rather than mixing two configurations' results.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .data import DataError

ITEMS = "items.jsonl"
RUN = "run.json"


def parse_items(text: str, path: Path, hint: str = "") -> dict[str, dict[str, Any]]:
    """The records of an `items.jsonl` text by id; a bad line is an error naming it."""
    done: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            done[str(record["id"])] = record
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{path}:{n}: not an item record{hint}") from None
    return done


class ItemLog:
    """`out/items.jsonl`: finished items by id, and appending new ones."""

    def __init__(self, out: Path, identity: dict[str, Any], fresh: bool = False) -> None:
        self.out = out
        self.path = out / ITEMS
        out.mkdir(parents=True, exist_ok=True)
        run_file = out / RUN
        if fresh:
            self.path.unlink(missing_ok=True)
        if self.path.exists() and run_file.exists():
            previous = json.loads(run_file.read_text(encoding="utf-8"))
            changed = sorted(
                k for k in set(previous) | set(identity) if previous.get(k) != identity.get(k)
            )
            if changed:
                details = ", ".join(
                    f"{k}: {previous.get(k)!r} then, {identity.get(k)!r} now" for k in changed
                )
                raise DataError(
                    f"{out} holds results of another configuration ({details}); "
                    f"use another --out, or --fresh to discard them"
                )
        run_file.write_text(json.dumps(identity, ensure_ascii=False, indent=2), encoding="utf-8")
        self.done: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # A line cut short by a crash: drop it so the next append starts a fresh line.
            with self.path.open("r+b") as fh:
                fh.truncate(end)
            data = data[:end]
        return parse_items(data.decode("utf-8"), self.path, "; use --fresh to start over")

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.done[str(record["id"])] = record


def reset_dir(path: Path) -> None:
    """Remove a derived directory (a pooled index) so it is rebuilt."""
    if path.exists():
        shutil.rmtree(path)
