"""What every adapter — `rag` (cli.py), the web app (web/app.py) and `rag eval` — does
first: the flags that name the settings file and the archive, logging, the settings, and
how a mistake the user can fix ends the command (`error: …` on stderr, exit code 2).

Imports only the shared modules; the adapters import it as one of them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from rag.config import Settings

USAGE_ERROR = 2  # the exit code of a RagError: bad settings, no archive, bad input


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="settings file (TOML); default $RAG_CONFIG")


def add_archive_flags(parser: argparse.ArgumentParser) -> None:
    """--index and --store, which name the archive, and -v, how much to log."""
    parser.add_argument("--index", metavar="DIR", help="index directory (default $RAG_INDEX or ./index)")
    parser.add_argument("--store", metavar="URI",
                        help="the archive elsewhere than --index: milvus:FILE.db (Milvus Lite) or "
                             "http://HOST:19530 (a Milvus server); default $RAG_STORE")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def log_to_stderr(verbose: bool = False) -> None:
    """Log warnings (with `verbose`, progress details too) to stderr."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Logging as -v asks, and the settings: --config (else $RAG_CONFIG), the environment,
    then --index, --store and `overrides` (None: not given). Raises ConfigError."""
    log_to_stderr(args.verbose)
    return Settings.load(args.config, index_dir=args.index, store=args.store, **overrides)


def fail(error: object) -> int:
    """Tell the user what went wrong; returns the exit code of a mistake they can fix."""
    print(f"error: {error}", file=sys.stderr)
    return USAGE_ERROR
