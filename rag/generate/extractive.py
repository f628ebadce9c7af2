"""An answerer with no language model: it quotes the passage sentences closest to the question.

It reads the fenced passage block the prompt layer writes into the last user message::

    <passages>
    [1] 标题：…｜日期：2025-03-12
    正文…
    [2] 标题：…｜日期：…
    正文…
    </passages>
    问题：…

and answers with the one or two body sentences that share the most character bigrams
with the question, each followed by its ``[n]``, or with `REFUSAL`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from rag.generate.base import GenerationError, JoinedGenerate, Message, check_request
from rag.results import REFUSAL
from rag.text.bigrams import content_bigrams
from rag.text.chunking import split_sentences
from rag.text.instructions import addresses_assistant

_BLOCK = re.compile(r"<passages>\s*\n(.*?)\n?\s*</passages>", re.DOTALL)
_HEADER = re.compile(r"^\[(\d+)\][ \t]*标题[:：]")
_QUESTION_LABEL = re.compile(r"^(?:问题|提问|question)\s*[:：]\s*", re.IGNORECASE)


def parse_passage_block(text: str) -> list[tuple[int, str]]:
    """The numbered passages of the ``<passages>`` block in `text`, as ``(n, body)``.

    A passage starts at a line ``[n] 标题：…｜日期：…`` and runs to the next such line; the
    header line is not part of the body. Numbers go up (the evidence of passages 1 and
    3 skips 2), so a body line that happens to start with ``[7]`` or ``[1] 标题：`` out of
    order is taken as text, not as a new passage. Returns [] when `text` has no block or
    the block is empty.
    """
    match = _BLOCK.search(text)
    if not match:
        return []
    passages: list[tuple[int, list[str]]] = []
    for line in match.group(1).splitlines():
        header = _HEADER.match(line.strip())
        if header and int(header.group(1)) > (passages[-1][0] if passages else 0):
            passages.append((int(header.group(1)), []))
        elif passages:
            passages[-1][1].append(line)
    return [(n, "\n".join(body).strip()) for n, body in passages]


def question_of(text: str) -> str:
    """The question in a user message: the ``问题：`` line after the block, else its last line."""
    outside = _BLOCK.sub("\n", text)
    lines = [line.strip() for line in outside.splitlines() if line.strip()]
    for line in reversed(lines):
        label = _QUESTION_LABEL.match(line)
        if label:
            return line[label.end():]
    return lines[-1] if lines else ""


class ExtractiveGenerator(JoinedGenerate):
    """Answers by quoting passage sentences; deterministic, instant, never invents a fact.

    A sentence is scored by the share of the question's content bigrams it contains;
    the best one is quoted if its share reaches `min_overlap`, and the next best too if
    it also does and covers question bigrams the first lacks. Ties go to the earlier
    passage. `max_tokens`, `temperature` and `stop` are accepted for the protocol and
    ignored: the answer is at most two sentences.
    """

    name = "extractive"
    writes = False  # it quotes the passages: callers quote key facts themselves

    def __init__(self, min_overlap: float = 0.3) -> None:
        if not 0 < min_overlap <= 1:
            raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
        self.min_overlap = min_overlap

    def warm_up(self) -> None:
        """Nothing to load."""

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """The same answer, one cited sentence per delta."""
        check_request(messages, max_tokens, temperature)
        user = next((m.content for m in reversed(messages) if m.role == "user"), None)
        if user is None or not _BLOCK.search(user):
            raise GenerationError(
                f"{self.name}: the last user message has no <passages> block to answer from"
            )
        return iter(self.answer(parse_passage_block(user), question_of(user)))

    def answer(self, passages: Sequence[tuple[int, str]], question: str) -> list[str]:
        """The answer's sentences, each ending in its citation, or ``[REFUSAL]``."""
        wanted = content_bigrams(question)
        if not wanted:
            return [REFUSAL]
        scored: list[tuple[float, int, str, frozenset[str]]] = []
        order = 0
        for n, body in passages:
            for start, end in split_sentences(body):
                sentence = body[start:end]
                if addresses_assistant(sentence):
                    continue  # stored orders to a model are never an answer
                shared = wanted & content_bigrams(sentence)
                scored.append((len(shared) / len(wanted), order, f"{sentence}[{n}]", shared))
                order += 1
        # Highest share first; among equals, the earliest sentence of the earliest passage.
        scored.sort(key=lambda s: (-s[0], s[1]))
        good = [s for s in scored if s[0] >= self.min_overlap]
        if not good:
            return [REFUSAL]
        best = good[0]
        chosen = [best[2]]
        for candidate in good[1:]:
            if candidate[3] - best[3]:
                chosen.append(candidate[2])
                break
        return chosen
