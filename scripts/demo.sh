#!/usr/bin/env bash
# Install everything, index the example archive and open the web app on it.
# Options are passed to `rag serve` (e.g. --port 8080, --generator extractive).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export RAG_INDEX=${RAG_INDEX:-index/example}
rag ingest examples/archive
exec rag serve "$@"
