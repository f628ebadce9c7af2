"""Gold data loading: the three item kinds, and errors that name the file and line."""

import json

import pytest
from conftest import REPO

from eval.data import BriefItem, DataError, QAItem, SummaryItem, load, load_many, load_qa, sample

DATA = REPO / "tests" / "data"


def write(tmp_path, *lines, name="gold.jsonl"):
    path = tmp_path / name
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


QA = {"id": "q1", "question": "有多少座？", "answer": ["18座"], "passages": ["共有18座车站。"]}


def test_the_test_data_files_load():
    qa = load(DATA / "eval_qa.jsonl")
    assert all(isinstance(it, QAItem) for it in qa) and len(qa) == 6
    unanswerable = [it for it in qa if not it.answerable]
    assert [it.id for it in unanswerable] == ["q5"] and unanswerable[0].gold_passages() == ()
    summaries = load(DATA / "eval_summary.jsonl")
    assert all(isinstance(it, SummaryItem) for it in summaries)
    assert summaries[0].title == "青川地铁2号线进展" and summaries[0].published == "2025-06-18"
    briefs = load(DATA / "eval_brief.jsonl")
    assert briefs[1] == BriefItem("b2", "青川地铁2号线", ("85%", "18座"), "2025-06", "2025-06-30")


def test_qa_defaults_and_gold_passages(tmp_path):
    path = write(tmp_path, QA, {"id": 7, "question": "问题？", "answer": [], "passages": []})
    first, second = load_qa(path)
    assert first.answer_mode == "any" and first.answerable
    assert first.gold_passages() == ("共有18座车站。",)
    assert second.id == "7" and not second.answerable  # no answer strings: unanswerable


def test_an_unanswerable_item_may_list_plausible_answers(tmp_path):
    item = load_qa(write(tmp_path, {"id": "q", "question": "问？", "answer": ["甲"], "answerable": False,
                                    "passages": ["甲乙丙"]}))[0]
    assert not item.answerable and item.answer == ("甲",) and item.gold_passages() == ()


def test_empty_passages_are_allowed_for_questions_asked_of_an_index(tmp_path):
    item = load_qa(write(tmp_path, {"id": "q", "question": "问？", "answer": ["甲"]}))[0]
    assert item.passages == () and item.gold_passages() == ()


def test_a_byte_order_mark_and_blank_lines_are_fine(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_text("\ufeff" + json.dumps(QA) + "\n\n", encoding="utf-8")
    assert load_qa(path)[0].id == "q1"


@pytest.mark.parametrize(("lines", "message"), [
    ([QA, "{not json"], ":2: not valid JSON"),
    (["[1, 2]"], ":1: expected a JSON object, got list"),
    ([{"id": "q", "answer": ["a"]}], ":1: cannot tell what this item is"),
    ([{"id": "", "question": "问？", "answer": ["a"]}], ":1: field 'id' is missing"),
    ([{"id": "q", "question": "问？", "answer": "18座"}], ":1: field 'answer' must be a list of strings"),
    ([{"id": "q", "question": "问？", "answer": ["a"], "passages": "text"}], "field 'passages' must be a list"),
    ([{"id": "q", "question": "问？", "answer": ["a"], "answer_mode": "some"}], "answer_mode must be 'any' or 'all'"),
    ([{"id": "q", "question": "问？", "answer": ["a"], "answerable": "yes"}], "'answerable' must be true or false"),
    ([{"id": "q", "question": "问？", "answer": [], "answerable": True}], ":1: answerable item has no answer strings"),
    ([{"id": "q", "question": "问？", "answer": ["a"], "meta": []}], "field 'meta' must be an object"),
    ([QA, QA], ":2: duplicate id 'q1' (first on line 1)"),
    ([QA, {"id": "s", "article": "文", "summary": "摘"}], ":2: a summary item in a file of qa items (line 1)"),
    ([{"id": "s", "article": "文章"}], ":1: field 'summary' is missing"),
    ([{"id": "b", "topic": "地铁"}], ":1: field 'must_contain' is missing"),
    ([{"id": "b", "topic": "地铁", "must_contain": ["a"], "since": "去年"}], "field 'since' must be a date"),
])
def test_errors_name_the_file_line_and_reason(tmp_path, lines, message):
    path = write(tmp_path, *lines)
    with pytest.raises(DataError) as err:
        load(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(DataError, match="missing.jsonl: file does not exist"):
        load(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty.jsonl: no items"):
        load(tmp_path / "empty.jsonl")
    (tmp_path / "gbk.jsonl").write_bytes(json.dumps(QA, ensure_ascii=False).encode("gbk"))
    with pytest.raises(DataError, match="gbk.jsonl: not UTF-8"):
        load(tmp_path / "gbk.jsonl")


def test_a_command_names_the_kind_it_takes(tmp_path):
    path = write(tmp_path, {"id": "s", "article": "文章", "summary": "摘要"})
    with pytest.raises(DataError, match=r":1: this command takes qa items, this file holds summary items"):
        load_qa(path)


def test_ids_must_be_unique_across_files(tmp_path):
    a = write(tmp_path, QA, name="a.jsonl")
    b = write(tmp_path, QA, name="b.jsonl")
    with pytest.raises(DataError, match=r"b.jsonl: id 'q1' also occurs in .*a.jsonl"):
        load_many([a, b], ("qa",))


def test_sample_is_fixed_by_the_seed_and_keeps_file_order():
    items = list(range(100))
    first = sample(items, 10, seed=0)
    assert first == sample(items, 10, seed=0) and first == sorted(first) and len(first) == 10
    assert sample(items, 10, seed=1) != first
    assert sample(items, None) == items and sample(items, 500) == items
    with pytest.raises(DataError, match="--limit"):
        sample(items, -1)
