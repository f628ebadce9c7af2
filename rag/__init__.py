"""Question answering and briefs over Chinese news archives, with cited passages.

The wings, bottom to top (an import only points down; see ARCHITECTURE.md):
shared modules (`types`, `results`, `errors`, `config`) → `text` → `ingest` → `models`
→ `archive` → `generate` → `answer` → `service` → adapters (`cli`, `web`).
"""

__version__ = "0.1.0"
