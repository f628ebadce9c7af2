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


class ModelCrashedError(GenerationError):
    """The model's process stopped in the middle of a call; it is being restarted.

    `signal_name` is the signal that ended it (``SIGSEGV``, ``SIGKILL`` ...), or None
    when it exited with `exit_code`. The message is for the user, in Chinese.
    """

    def __init__(self, message: str, *, signal_name: str | None, exit_code: int | None) -> None:
        super().__init__(message)
        self.signal_name = signal_name
        self.exit_code = exit_code


class ModelUnavailableError(GenerationError):
    """The model crashed too often to be restarted; the message says why and what to do."""


class ReadError(RagError):
    """A file or record cannot be used; `reason` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UploadError(InputError):
    """An upload is refused (type, size, archive member); the message is for the user."""
