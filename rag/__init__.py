"""Question answering and briefs over Chinese news archives, with cited passages."""

__version__ = "0.1.0"
