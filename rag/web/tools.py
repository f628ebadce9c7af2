"""The archive's MCP tools: search, ask, brief, summarize and article.

Gradio serves them through its own MCP server (streamable HTTP at ``/gradio_api/mcp/``):
each function's docstring is the manual a model reads, its ``Args`` the parameters'
descriptions. Each returns JSON text (Gradio's MCP server passes a tool's value on as
text), with the citations: the same shapes as the CLI's ``--json``.

They run outside Gradio's queue (``queue=False``): Gradio calls a queued tool through a
client of its own that the page's login would turn away. Model work still goes one at a
time, as the model serves one call at a time.
"""

# No `from __future__ import annotations`: gr.api reads the functions' type hints.

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from rag.errors import InputError
from rag.results import answer_to_json, article_to_json, brief_to_json, hit_to_json

if TYPE_CHECKING:
    from rag.service import Service


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def tools(service: "Service", said_to_caller: Callable[[], AbstractContextManager[None]]) -> Iterator[Callable[..., str]]:
    """The tool functions over `service`; `said_to_caller` turns a user's error into the
    message the caller sees."""

    def search(query: str, k: int = 5, since: str = "", until: str = "") -> str:
        """Search the news archive for passages about a topic, a name or a figure.

        Hybrid search (meaning and words) over the archive's passages, best first. Use it to
        find which articles cover something before asking or summarizing; use `ask` for a
        checked answer.

        Args:
            query: What to look for, in Chinese or the words of the articles, e.g. "地铁2号线 投资".
            k: How many passages to return (1-50).
            since: Only articles published on or after this date: YYYY, YYYY-MM or YYYY-MM-DD; empty for no limit.
            until: Only articles published on or before this date, same forms; empty for no limit.

        Returns:
            JSON: {"query", "hits": [{"rank", "article_id", "title", "published", "source", "passage_id", "text", "start", "end", "score"}]}.
        """
        with said_to_caller():
            if not query.strip():
                raise InputError("the query is empty")
            hits = service.search(query, k=max(1, min(int(k), 50)), since=since or None, until=until or None)
            return _json({"query": query, "hits": [hit_to_json(h) for h in hits]})

    def ask(question: str, as_of: str = "") -> str:
        """Answer a question from the news archive, every sentence cited, or say that the archive does not tell.

        The answer is short Chinese text with [n] markers; citation n is the passage that
        supports the sentences marked [n]. When the archive does not hold the answer,
        "refused" is true and the answer says so (资料中没有相关信息): do not guess then.
        Questions are standalone: name the subject rather than "it".

        Args:
            question: One question, best in Chinese, e.g. "沙溪河治理工程总投资多少？" (at most 500 characters).
            as_of: The date that relative words such as 今年 or 上个月 refer to (YYYY-MM-DD); empty for the archive's latest date.

        Returns:
            JSON: {"answer", "refused", "standalone_question", "sentences", "citations": [{"n", "article_id", "title", "published", "source", "passage_id", "text", "start", "end"}], "evidence", "confidence", "timings"}.
        """
        with said_to_caller():
            return _json(answer_to_json(service.ask(question, as_of=as_of or None)))

    def brief(topic: str = "", since: str = "", until: str = "", max_articles: int = 10) -> str:
        """Write a cited brief from several articles: on a topic, a date range, or both.

        Reports on the same story are merged; every sentence cites its passage and was checked
        against it. Takes about a minute for ten articles.

        Args:
            topic: What the brief is about, e.g. "地铁建设"; empty for every article in the dates.
            since: First publication date (YYYY, YYYY-MM or YYYY-MM-DD); empty for no limit.
            until: Last publication date, same forms; empty for no limit.
            max_articles: At most this many articles (1-30).

        Returns:
            JSON: {"topic", "since", "until", "markdown", "sections", "sentences", "citations", "articles"}.
        """
        with said_to_caller():
            result = service.brief(topic or None, since or None, until or None,
                                   max_articles=max(1, min(int(max_articles), 30)))
            return _json(brief_to_json(result))

    def summarize(article_id: str) -> str:
        """Summarize one article of the archive in 2-5 cited, checked sentences.

        Args:
            article_id: The article's id from `search` or `ask` (a unique prefix is enough).

        Returns:
            JSON: {"markdown", "sentences", "citations", "articles"}.
        """
        with said_to_caller():
            return _json(brief_to_json(service.summarize(article_id)))

    def article(article_id: str) -> str:
        """The full text and metadata of one article of the archive, to read what a citation comes from.

        Args:
            article_id: The article's id from `search` or a citation (a unique prefix is enough).

        Returns:
            JSON: {"id", "title", "subtitle", "published", "source", "reporters", "section", "captions", "text", "passages": [{"id", "start", "end"}]}.
        """
        with said_to_caller():
            found = service.article(article_id)
            return _json(article_to_json(found, service.passages(found.id)))

    yield from (search, ask, brief, summarize, article)
