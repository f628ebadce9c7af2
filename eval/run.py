"""`python -m eval.run TASK ...`: the same as `rag eval TASK ...` (see `eval.cli`)."""

from __future__ import annotations

import sys

from .cli import main, run_qa, run_retrieval, run_summary

__all__ = ["main", "run_qa", "run_retrieval", "run_summary"]

if __name__ == "__main__":
    sys.exit(main())
