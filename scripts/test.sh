#!/usr/bin/env bash
# Install everything, then run the whole test suite (unit and real-model tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec python -m pytest "$@"
