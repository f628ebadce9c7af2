"""The errors a user can cause or fix, under one base.

Every adapter (the CLI, the web app, evaluation) catches `RagError` once, at its edge, and
shows its message; anything else is a bug and surfaces as one. `InputError` is also a
`ValueError`, so code that validates arguments reads as it always has.
"""

from __future__ import annotations


class RagError(Exception):
    """Something the user can act on; the message says what and, where it can, how."""


class InputError(RagError, ValueError):
    """A value the user gave is unusable: an empty question, a date that does not exist."""


class ConfigError(InputError):
    """A setting has a value we cannot use; the message names the setting."""


class StoreError(RagError):
    """A problem with the index directory that the user can act on."""


class ModelError(RagError):
    """A model spec cannot be resolved or its files are unusable; the message names both."""


class GenerationError(RagError):
    """The answer backend failed (model file, server, timeout); the message says which."""


class ReadError(RagError):
    """A file or record cannot be used; `reason` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UploadError(InputError):
    """An upload is refused (type, size, archive member); the message is for the user."""
