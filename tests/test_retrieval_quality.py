"""Real default model: the passage holding the answer is retrieved in the top 3.

Runs on the real seed newspaper page (../shared) and on the example archive, with
questions written in other words than the text.
"""

import json
import re

import pytest
from conftest import REPO, SHARED

from rag.config import Settings
from rag.service import Service

pytestmark = pytest.mark.slow


def norm(text):
    return re.sub(r"\s+", "", text)


def load(name):
    path = REPO / "tests" / "data" / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def top3_rate(service, questions):
    found, misses = 0, []
    for q in questions:
        hits = service.search(q["question"], k=3)
        if any(norm(q["evidence"]) in norm(h.passage.text) for h in hits):
            found += 1
        else:
            misses.append((q["id"], q["question"], [h.title for h in hits]))
    return found / len(questions), misses


@pytest.fixture(scope="module")
def seed_service(tmp_path_factory):
    index = tmp_path_factory.mktemp("seed") / "index"
    service = Service(Settings.load(env={}, index_dir=index))
    report = service.ingest([SHARED / "corpus" / "seed"])
    assert len(report.added) >= 7 and not report.skipped
    yield service
    service.close()


@pytest.fixture(scope="module")
def example_service(tmp_path_factory):
    index = tmp_path_factory.mktemp("example") / "index"
    service = Service(Settings.load(env={}, index_dir=index))
    report = service.ingest([REPO / "examples" / "archive"])
    assert not report.skipped, report.skipped
    yield service
    service.close()


def test_seed_page_answers_are_in_top_3(seed_service):
    questions = [q for q in load("seed_questions.jsonl") if q["answerable"]]
    rate, misses = top3_rate(seed_service, questions)
    print(f"seed page: {rate:.1%} of {len(questions)} in top 3; misses: {misses}")
    assert rate >= 0.9, misses


def test_example_archive_answers_are_in_top_3(example_service):
    questions = [q for q in load("example_questions.jsonl") if q["answerable"]]
    rate, misses = top3_rate(example_service, questions)
    print(f"example archive: {rate:.1%} of {len(questions)} in top 3; misses: {misses}")
    assert rate >= 0.9, misses


def test_date_filter_picks_the_newer_report(example_service):
    hits = example_service.search("地铁2号线工程完成了多少", k=1, since="2025-06-01")
    assert hits and hits[0].published >= "2025-06-01"
    assert "85%" in example_service.article(hits[0].passage.article_id).text
