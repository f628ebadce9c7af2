#!/usr/bin/env bash
# Install everything, index the example archive and run an example search.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export RAG_INDEX=${RAG_INDEX:-index/example}
rag ingest examples/archive
rag search "地铁2号线什么时候通车？"
