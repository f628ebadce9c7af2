"""The one door to the archive: the CLI, the web app, evaluation and benchmarks call
only this and the shared modules (types, results, errors, config, text)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.answer import brief as briefs
from rag.answer.ask import LastPrompt, OnEvidence, OnToken, ask, covers, prompt_evidence
from rag.answer.brief import Progress as BriefProgress
from rag.answer.gate import FEATURES as GATE_FEATURES  # noqa: F401  (eval fits the gate)
from rag.answer.gate import GATE_FILE as GATE_FILE
from rag.answer.gate import Embed, cosine_with
from rag.answer.gate import load as load_gate
from rag.answer.prompts import answer_messages, rewrite_messages
from rag.answer.verify import check_support
from rag.answer.verify import warm_up as warm_up_verification
from rag.archive.base import ArchiveStore, NewArchive, archive_stats, check_embedder
from rag.archive.reading import ReadingSearch
from rag.archive.search import Filters, Retriever
from rag.archive.stores import copy_archive, open_archive
from rag.archive.update import Progress, ingest, reembed
from rag.config import SearchMode, Settings
from rag.errors import InputError, StoreError
from rag.generate import (
    LOCAL_BACKENDS,
    Generator,
    Message,
    ModelCrashedError,
    ModelUnavailableError,
    make_generator,
)
from rag.generate.llamacpp import load_cpu_backend
from rag.ingest.readers import READERS
from rag.models.embedder import Embedder, make_embedder
from rag.models.wrapped import AnswersFirst, RecentQueries
from rag.results import Answer, ArticleInfo, Brief, Evidence
from rag.text.dates import parse_date
from rag.text.words import tokenize
from rag.types import Article, Hit, IngestReport, Passage, Search

DOCUMENT_TYPES = tuple(sorted(READERS))  # what ingest reads: ".txt", ".md", ".pdf", ".jsonl.gz", ...

log = logging.getLogger(__name__)

# How long ingest waits for answers being written before it embeds its next batch anyway.
ANSWERS_FIRST_SECONDS = 120.0
MAX_QUESTION_CHARS = 500  # a question, not a document: longer ones are refused with a message


class Service:
    """The archive at `settings.store_uri` (a folder, or Milvus), with lazily loaded models."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = RecentQueries(embedder) if embedder is not None else None
        self._generator = generator
        self._owns_generator = generator is None  # one given to us may serve others too
        self._fallback: Generator | None = None
        self._store: ArchiveStore | None = None
        self._reading: ReadingSearch | None = None
        self._embedding_checked = False
        # Web handlers run in threads: one lock so a model or the index is opened once.
        self._opening = threading.RLock()
        # Answers being written now; ingest embeds only between them (see `_yield_to_answers`).
        self._answers = 0
        self._answers_changed = threading.Condition()
        self._warming = False  # warm_up is loading the models
        self._last_prompt = LastPrompt()  # the passages the model's cache holds, for their order

    @property
    def generator(self) -> Generator:
        """The answer backend. A local model that crashed too often to be restarted is
        replaced by the extractive backend: answers then quote the evidence, cited."""
        with self._opening:
            if self._generator is None:
                s = self.settings
                self._generator = make_generator(s.generator, worker=s.model_worker,
                                                 **s.generator_options())
            if getattr(self._generator, "failed", None):
                if self._fallback is None:
                    log.warning("answers quote the evidence from now on: %s", self._generator.failed)  # type: ignore[attr-defined]
                    self._fallback = make_generator("extractive")
                return self._fallback
            return self._generator

    @property
    def embedder(self) -> Embedder:
        with self._opening:
            if self._embedder is None:
                s = self.settings
                self._embedder = RecentQueries(make_embedder(
                    s.embedding_model, threads=s.threads, batch_size=s.embed_batch_size,
                    runtime=s.embedding_runtime,
                ))
            return self._embedder

    def store(self) -> ArchiveStore:
        """The open archive; raises StoreError with advice when there is none.

        The service's own handle: adapters use the methods of `Service`, never the store.
        """
        with self._opening:
            if self._store is None:
                s = self.settings
                self._store = open_archive(s.store_uri, s.embedding_model, prefix=s.milvus_prefix)
            return self._store

    def warm_up(self) -> float:
        """Load now what the first question would wait for: the index, the embedder,
        jieba, the generator and, for a local model, the fixed start of every answer
        prompt (its tokens are computed once and reused by each question). Returns the
        seconds it took."""
        started = time.perf_counter()
        self._warming = True
        try:
            if self.has_index():
                self.store().warm()
            self.embedder.embed_queries(["预热"])
            tokenize("预热")
            warm_up_verification()
            self._warm_up_generator()
        finally:
            self._warming = False
        return time.perf_counter() - started

    @property
    def loading(self) -> str | None:
        """What is being loaded now, so an answer would wait for it: the models at start
        (`warm_up`), or a local model whose worker is being started again after a crash.
        None when answers can be written at once (or load on first use)."""
        if self._warming:
            return "the models are loading"
        if getattr(self._generator, "loading", False):
            return "the model is being restarted"
        return None

    def _warm_up_generator(self) -> None:
        """Load the model and have it read a real prompt, the fixed start of every answer
        prompt (a few hundred tokens: a crash in prefill shows here, not on a user's
        question, and the prompt's tokens are computed once and reused by each question),
        and, where the backend rewrites follow-ups aside, the start of that prompt too.
        A model whose worker crashes is restarted and tried again until it is given up;
        then ModelUnavailableError says why."""
        while True:
            generator = self.generator
            try:
                load = getattr(generator, "warm_up", None)  # every backend has it; fakes need not
                if load is not None:
                    load()
                if self.settings.generator in LOCAL_BACKENDS:
                    aside = getattr(generator, "aside", None)  # the follow-up rewrite's context
                    if aside is not None:  # first: a backend with one context keeps the answer's
                        aside([Message(r, c) for r, c in rewrite_messages("", [])], max_tokens=1)
                    messages = [Message(r, c) for r, c in answer_messages("", [])]
                    generator.generate(messages, max_tokens=1)
                return
            except ModelCrashedError:
                if getattr(generator, "failed", None):
                    raise ModelUnavailableError(generator.failed) from None  # type: ignore[attr-defined]

    @property
    def model_system_info(self) -> str:
        """What the local model's backend uses on this CPU (llama.cpp's CPU library and
        instruction sets), once it has loaded; empty otherwise."""
        return str(getattr(self._generator, "system_info", "") or "")

    def model_files(self) -> dict[str, str]:
        """Where the configured models live on this machine: the embedding model's folder
        (or Hugging Face id) and the local generator's GGUF file (or id), building the
        bundled ones into the model cache if needed."""
        from rag.models.embedding import resolve_embedding_model
        from rag.models.generation import DEFAULT_GENERATOR_MODEL, resolve_generator_model

        s = self.settings
        return {
            "embedding": resolve_embedding_model(s.embedding_model),
            "generator": resolve_generator_model(s.generator_model or DEFAULT_GENERATOR_MODEL),
        }

    @staticmethod
    def load_llama_cpp() -> None:
        """Make llama.cpp ready in this process (its CPU library for this CPU), for code
        that loads a GGUF itself rather than through the service, such as a benchmark's
        peer pipeline."""
        load_cpu_backend()

    def close(self) -> None:
        """Close the archive and stop the model's worker process, if this service started one."""
        if self._store is not None:
            self._store.close()
            self._store = None
        shutdown = getattr(self._generator, "shutdown", None) if self._owns_generator else None
        if shutdown is not None:
            shutdown()

    # ------------------------------------------------------------------- writing
    def ingest(
        self, paths: Iterable[str | Path], progress: Progress | None = None, ray: str | None = None,
    ) -> IngestReport:
        """Bring the archive up to date with `paths` (files or folders). With `ray` (a
        cluster's address, or "" for a local Ray), files are read and passages embedded on
        Ray workers; the report is the same."""
        s = self.settings
        self._open_for_writing()
        assert self._store is not None
        if ray is not None:
            from rag.archive.distributed import ingest_ray

            return ingest_ray(self._store, list(paths), settings=s, address=ray or None,
                              progress=progress)
        return ingest(
            self._store, AnswersFirst(self.embedder, self._yield_to_answers), paths,
            chunk_size=s.chunk_size,
            chunk_overlap=s.chunk_overlap, progress=progress, embed_group=s.embed_group,
            commit_every=s.commit_every,
        )

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """Mark an answer, summary or brief as being written while the block runs."""
        with self._answers_changed:
            self._answers += 1
        try:
            yield
        finally:
            with self._answers_changed:
                self._answers -= 1
                self._answers_changed.notify_all()

    def _yield_to_answers(self) -> None:
        """Wait until no answer is being written, or `ANSWERS_FIRST_SECONDS` at most.

        The model and the embedder share the machine's cores: a question asked during an
        upload took 2.6 times as long as one alone. Ingest waits between its embedding
        groups instead (`embed_group` passages, about 2 s), so a question costs the
        upload about its own time, and a stream of questions still lets it through."""
        with self._answers_changed:
            self._answers_changed.wait_for(lambda: self._answers == 0, timeout=ANSWERS_FIRST_SECONDS)

    def _open_for_writing(self) -> None:
        """Open the archive, creating it empty if there is none, and check its embedding."""
        s = self.settings

        def new() -> NewArchive:  # the model loads only for a new archive: re-ingesting is free
            embedder = self.embedder
            return NewArchive(s.embedding_model, embedder.dim, getattr(embedder, "checksum", None),
                              {"chunk_size": s.chunk_size, "chunk_overlap": s.chunk_overlap},
                              getattr(embedder, "runtime", None), s.milvus_lexical)

        with self._opening:
            if self._store is None:
                self._store = open_archive(s.store_uri, s.embedding_model, create=new,
                                           prefix=s.milvus_prefix)
        self._check_embedding()

    def copy_to(self, uri: str, progress: Progress | None = None) -> tuple[int, int]:
        """Copy this archive into the store at `uri` (created if need be) with its vectors
        and tokens as they are: nothing is read or embedded again. Returns (articles
        copied, articles the target already had)."""
        s = self.settings
        source = self.store()
        if uri == s.store_uri:
            raise InputError(f"the archive is already at {uri}")
        return copy_archive(source, uri, progress, prefix=s.milvus_prefix, lexical=s.milvus_lexical)

    def _check_embedding(self) -> None:
        """Refuse to mix vectors: the index's must come from the weights and runtime this
        service embeds with (see `reindex`)."""
        if not self._embedding_checked:
            check_embedder(self.store(), self.embedder)
            self._embedding_checked = True

    def reindex(self, progress: Progress | None = None) -> tuple[int, bool]:
        """Embed every passage again with the configured embedder, from the archive's
        text, and record the embedding in the manifest. Returns the number of passages and
        whether they were embedded: an index of an older format made by the same weights is
        only converted."""
        s = self.settings
        with self._opening:
            if self._store is None:
                self._store = open_archive(s.store_uri, s.embedding_model, upgrade=True,
                                           prefix=s.milvus_prefix)
        n = reembed(self._store, self.embedder, model=s.embedding_model, embed_group=s.embed_group,
                    commit_every=s.commit_every, progress=progress)
        self._embedding_checked = True
        return n

    def delete(self, article_id: str) -> Article:
        """Remove one article (an unambiguous id prefix is enough) from every index."""
        article = self.article(article_id)
        with self.store().writer() as writer:
            writer.delete(article.id)
            writer.commit()
        return article

    # ------------------------------------------------------------------- answers
    def latest_date(self) -> dt.date | None:
        """The newest publication date in the archive: "today" for relative dates."""
        latest = self.store().latest_published()
        return dt.date.fromisoformat(latest[:10]) if latest else None

    def ask(
        self, question: str, history: Sequence[tuple[str, str]] = (),
        as_of: str | None = None, on_token: OnToken | None = None, *,
        on_evidence: OnEvidence | None = None, search: Search | None = None,
        generator: Generator | None = None,
    ) -> Answer:
        """Answer from the archive, every sentence cited and checked, or refuse.

        `on_evidence` gets the evidence sentences as soon as they are chosen, before the
        model writes; `on_token` gets the model's draft as it streams.

        `search` replaces the archive as the source of passages (see `search_given`) and
        `generator` the configured backend, for this question only.
        """
        s = self.settings
        self.check_question(question)
        if as_of:
            day: dt.date | None = dt.date.fromisoformat(parse_date(as_of) or "")
        else:
            day = self.latest_date() if search is None else None

        # The gate's cosine features are on the scale of the embedding model it was fitted with.
        calibrated = load_gate().embedding_model == s.embedding_model
        with self._answering():
            return ask(
                question, search or self._archive_search, generator or self.generator,
                history=history, as_of=day, min_score=s.refuse_below,
                max_tokens=s.max_answer_tokens, on_token=on_token, on_evidence=on_evidence,
                evidence_budget=s.evidence_chars, prompt_chars=s.prompt_chars,
                confidence=s.answer_confidence, risk=s.answer_risk, quote_risk=s.quote_risk,
                cosine=self._cosine() if calibrated else None, dense_scores=calibrated,
                last=self._last_prompt if generator is None else None,
            )

    @staticmethod
    def check_question(question: str) -> None:
        """Raise InputError for a question `ask` would refuse to read: empty or too long."""
        if not question.strip():
            raise InputError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InputError(f"the question is {len(question)} characters long; at most "
                             f"{MAX_QUESTION_CHARS} are read (ask about one thing at a time)")

    def _cosine(self) -> Embed:
        """The embedding model's cosine between a question and sentences, for the gate."""
        return cosine_with(self.embedder.embed_queries, self.embedder.embed_passages)

    def evidence(self, question: str, *, search: Search | None = None) -> tuple[Evidence, ...]:
        """The evidence sentences `ask` shows for a standalone question with no relative
        date, without the model: retrieval and sentence selection only (milliseconds
        after the search); none when retrieval is too weak to answer from."""
        if not question.strip():
            raise InputError("the question is empty")
        s = self.settings
        hits = (search or self._archive_search)(question, None, None)
        if not covers(hits, s.refuse_below):
            return ()
        return prompt_evidence(question, hits, s.evidence_chars, self._last_prompt.hits)[1]

    def _archive_search(self, query: str, since: str | None, until: str | None) -> list[Hit]:
        return self.search(query, k=self.settings.answer_k, since=since, until=until)

    def search_given(
        self, texts: Sequence[tuple[str, str]], title: str = "", published: str | None = None,
    ) -> Search:
        """A search over `(article_id, text)` pairs alone, for `ask(search=…)`: the texts
        are cut and ranked as the archive's passages are, with no index."""
        with self._opening:
            if self._reading is None:
                s = self.settings
                self._reading = ReadingSearch(self.embedder, s.chunk_size, s.chunk_overlap,
                                              s.answer_k, s.rrf_k)
        return self._reading.over(texts, title, published)

    @staticmethod
    def supports(claim: str, evidence: str) -> bool:
        """Whether `evidence` (see `rag.types.evidence_text`) holds the claim's numbers,
        dates and names: the check every answer and brief sentence passes."""
        return check_support(claim, evidence).supported

    def summarize(self, article_id: str, on_progress: BriefProgress | None = None) -> Brief:
        """2-5 cited, verified sentences about one article (an id prefix is enough)."""
        article = self.article(article_id)
        with self._answering():
            return briefs.summarize(
                article, self.store().passages_of(article.id), self.generator,
                max_tokens=self.settings.max_answer_tokens + 64,
                budget=self.settings.summary_chars, on_progress=on_progress,
                replies=self.store().replies,
            )

    def brief(
        self, topic: str | None = None, since: str | None = None, until: str | None = None,
        max_articles: int = 10, on_progress: BriefProgress | None = None,
        on_section: Callable[[Brief], None] | None = None,
    ) -> Brief:
        """A cited brief over the articles on `topic` and/or in a date range, by story.

        With a topic, the articles are those whose passages retrieval finds for it with a
        dense score at the refusal threshold or above (the same bar as answers), most
        relevant first; without one, the newest articles of the range. `on_section` gets
        the brief so far as each story's paragraph is done.
        """
        if max_articles < 1:
            raise InputError(f"max_articles must be at least 1, got {max_articles}")
        topic = (topic or "").strip() or None
        if topic is None and not (since or until):
            raise InputError("a brief needs a topic, a date range, or both")
        started = time.perf_counter()
        store = self.store()
        first, last = parse_date(since), parse_date(until, end=True)
        if topic:
            hits = self.search(topic, k=max(50, 5 * max_articles), since=since, until=until)
            chosen = briefs.relevant_articles(hits, self.settings.refuse_below)[:max_articles]
        else:
            chosen = briefs.published_between(store.list_articles(), first, last)[:max_articles]
        retrieve_s = time.perf_counter() - started
        articles = []
        for aid in chosen:
            found = store.article(aid)
            if found is not None:
                articles.append((found, store.passages_of(aid)))
        with self._answering():
            result = briefs.brief(
                topic, articles, self.generator if articles else None,
                vectors=store.article_vectors(chosen), since=first, until=last,
                facts_per_article=self.settings.brief_facts_per_article,
                same_story=self.settings.brief_same_story,
                section_facts=self.settings.brief_section_facts,
                max_tokens=self.settings.max_answer_tokens + 64,
                write_from=self.settings.brief_write_from, on_progress=on_progress,
                on_section=on_section, replies=store.replies,
            )
        result.timings["retrieve_s"] = retrieve_s
        result.timings["total_s"] = time.perf_counter() - started
        return result

    # ------------------------------------------------------------------- reading
    def search(
        self, query: str, k: int | None = None, since: str | None = None,
        until: str | None = None, sources: Iterable[str] = (), mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        s = self.settings
        if mode != "bm25":
            self._check_embedding()
        retriever = Retriever(
            self.store(), self.embedder, candidates=s.candidates, rrf_k=s.rrf_k, nprobe=s.nprobe,
            max_per_article=s.max_per_article,
        )
        filters = Filters(parse_date(since), parse_date(until, end=True), tuple(sources))
        return retriever.search(query, k or s.top_k, filters, mode)

    def articles(self) -> list[ArticleInfo]:
        return self.store().list_articles()

    def passages(self, article_id: str) -> list[Passage]:
        """The passages of one article (an unambiguous id prefix is enough), in order."""
        return self.store().passages_of(self.article(article_id).id)

    def article_keys(self) -> dict[str, str]:
        """{article id: key}: where each article came from (external id or "source#n")."""
        return self.store().article_keys()

    def has_index(self) -> bool:
        """Whether the index at `settings.index_dir` exists and opens."""
        try:
            self.store()
        except StoreError:
            return False
        return True

    def is_empty(self) -> bool:
        return self.store().counts()["passages"] == 0

    def article(self, article_id: str) -> Article:
        store = self.store()
        matches = store.find_articles(article_id.strip()) if article_id.strip() else []
        if not matches:
            raise StoreError(f"no article with id {article_id!r} in {store.location}")
        if len(matches) > 1 and article_id not in matches:
            raise StoreError(f"id {article_id!r} is ambiguous: {', '.join(matches[:5])}")
        found = store.article(article_id if article_id in matches else matches[0])
        assert found is not None
        return found

    def stats(self) -> dict[str, Any]:
        """What the archive holds and how it was built (see `archive.base.archive_stats`)."""
        return archive_stats(self.store())
