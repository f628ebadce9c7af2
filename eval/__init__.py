"""Offline evaluation of retrieval, answers and summaries on gold data.

Run with `rag eval TASK ...` (or `python -m eval.run TASK ...`); see `eval.cli`.
"""
