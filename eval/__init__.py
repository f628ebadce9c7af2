"""Offline evaluation of retrieval and answers on gold data (run: python -m eval.run)."""
