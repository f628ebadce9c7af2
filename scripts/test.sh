#!/usr/bin/env bash
# Install everything, lint and type-check, then run the whole test suite (unit and
# real-model tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
python -m ruff check .
python -m mypy rag eval
exec python -m pytest "$@"
