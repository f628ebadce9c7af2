"""`rag eval` runs on a tiny gold set, with the fake embedder and scripted or extractive
generators: outputs, scores, resume and comparison."""

import argparse
import json

import pytest
from conftest import REPO
from fakes import FakeEmbedder, ScriptedGenerator

from eval import cli as eval_cli
from eval.compare import compare
from eval.data import DataError
from eval.records import ItemLog
from rag import cli, service
from rag.config import Settings
from rag.service import Service

DATA = REPO / "tests" / "data"
QA = DATA / "eval_qa.jsonl"


@pytest.fixture
def fake_models(monkeypatch):
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", "fake-embedder")
    # The default threshold is calibrated for the real model's cosines, not the fake's.
    monkeypatch.setenv("RAG_REFUSE_BELOW", "0")
    monkeypatch.setattr(service, "make_embedder", lambda *a, **k: FakeEmbedder())


@pytest.fixture
def rag(fake_models, capsys):
    def run(*args):
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def read_items(folder):
    lines = (folder / "items.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def summary_of(folder):
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def in_unit_range(section):
    return all(0.0 <= v <= 1.0 for k, v in section.items() if not k.startswith("n_"))


# ---------------------------------------------------------------- retrieval


def test_eval_retrieval_scores_every_retriever_side_by_side(rag, tmp_path):
    out = tmp_path / "ret"
    code, stdout, err = rag("eval", "retrieval", "--data", str(QA), "--out", str(out), "--quiet")
    assert code == 0, err
    summary = summary_of(out)
    assert summary["task"] == "retrieval" and summary["n"] == 5  # q5 has no gold passage
    assert set(summary["retrievers"]) == {"bm25", "dense", "hybrid"}
    for metrics in summary["retrievers"].values():
        assert {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"} <= set(metrics)
        assert metrics["recall@10"] == 1.0  # eight passages: every gold one is in the top 10
    assert summary["pool_passages"] == 5
    items = read_items(out)
    assert len(items) == 5 and set(items[0]["ranked"]) == {"bm25", "dense", "hybrid"}
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| hybrid |" in report and "![recall_at_k](recall_at_k.png)" in report
    assert (out / "recall_at_k.png").stat().st_size > 1000 and (out / "latency.png").exists()
    assert json.loads(stdout)["n"] == 5


def test_eval_retrieval_keeps_its_archive_in_milvus_lite_with_store_milvus(rag, tmp_path):
    folder, milvus = tmp_path / "folder", tmp_path / "milvus"
    for out, store in ((folder, "folder"), (milvus, "milvus")):
        code, _, err = rag("eval", "retrieval", "--data", str(QA), "--out", str(out), "--quiet",
                           "--store", store)
        assert code == 0, err
    assert (milvus / "pool-index" / "milvus.db").is_dir()  # the Milvus Lite file, not a folder index
    assert not (milvus / "pool-index" / "manifest.json").exists()
    assert summary_of(milvus)["config"]["store"] == "milvus"
    assert summary_of(milvus)["retrievers"] == {
        r: {**m, "latency_p50_s": summary_of(milvus)["retrievers"][r]["latency_p50_s"],
            "latency_p95_s": summary_of(milvus)["retrievers"][r]["latency_p95_s"]}
        for r, m in summary_of(folder)["retrievers"].items()}  # the same scores on both stores


# ---------------------------------------------------------------- qa

# Replies in file order (reading mode asks q1..q6 in turn).
REPLIES = [
    "2号线土建工程已完成85%。[1]",                      # right
    "岭南镇苹果总产量预计12万吨。[1]",                  # right (re-attached if [1] is the other passage)
    "共有42316人报名。[1]",                             # right
    "数据中心总投资18亿元。[1]",                        # half of an "all" answer: wrong
    "冠军是李明。[1]",                                  # invented: dropped, so refused (right)
    "最低气温零下9度。[1]",                             # right
]


def qa_args(out, **kw):
    values = dict(data=[QA], mode="reading", index=None, limit=None, seed=0, generator=None,
                  out=out, config=None, fresh=False, quiet=True, replay=None)
    values.update(kw)
    return argparse.Namespace(**values)


def scripted(generator, tmp_path):
    def make(settings: Settings) -> Service:
        return Service(settings.replace(refuse_below=0.0), embedder=FakeEmbedder(), generator=generator)

    return make


def test_eval_qa_reading_scores_answers_citations_and_refusals(fake_models, tmp_path):
    gen = ScriptedGenerator(*REPLIES)
    out = tmp_path / "qa"
    summary = eval_cli.run_qa(qa_args(out), scripted(gen, tmp_path))
    assert summary["mode"] == "reading" and summary["n"] == 6
    assert summary["answer"]["accuracy"] == pytest.approx(4 / 5)
    assert summary["refusal"] == {
        "n_unanswerable": 1, "refusal_rate": 1.0, "n_answerable": 5, "false_refusal_rate": 0.0,
    }
    # every right answer cites a passage that states a gold string, checked apart from
    # the product's own support check
    assert summary["citation"] == {"precision": 1.0, "recall": 1.0, "holds_gold": 1.0}
    assert 0.0 < summary["evidence"]["holds_gold"] <= 1.0  # the sentences shown first
    assert summary["counts"]["with_evidence"] == 5
    assert "retrieval" not in summary  # each question saw only its own passages
    assert in_unit_range(summary["answer"]) and set(summary["latency_s"]) == {"p50", "p95"}
    items = {r["id"]: r for r in read_items(out)}
    assert items["q4"]["scores"]["accuracy"] == 0.0 and 0 < items["q4"]["scores"]["char_f1"] < 1
    assert items["q5"]["refused"] and items["q5"]["scores"]["accuracy"] is None
    assert items["q2"]["citations"][0]["gold"] and "12万吨" in items["q2"]["citations"][0]["text"]
    assert items["q1"]["prediction"] == "2号线土建工程已完成85%。"
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Items to read" in report and "q4" in report and (out / "answers.png").exists()


def test_replay_rechecks_recorded_drafts_without_the_model(fake_models, tmp_path):
    first = tmp_path / "qa"
    before = eval_cli.run_qa(qa_args(first), scripted(ScriptedGenerator(*REPLIES), tmp_path))
    no_model = ScriptedGenerator()  # any call would fail: there are no replies
    again = eval_cli.run_qa(qa_args(tmp_path / "replay", replay=first), scripted(no_model, tmp_path))
    assert no_model.prompts == []
    assert again["answer"] == before["answer"] and again["refusal"] == before["refusal"]
    assert [r["answer"] for r in read_items(tmp_path / "replay")] == [r["answer"] for r in read_items(first)]

    # a draft is what gets checked: an empty one is the model's refusal, and what is left
    # for the gate is the best evidence sentence, quoted
    records = read_items(first)
    records[0]["draft"] = ""
    (first / "items.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                       encoding="utf-8")
    changed = eval_cli.run_qa(qa_args(tmp_path / "replay2", replay=first), scripted(no_model, tmp_path))
    assert changed["answer"]["accuracy"] <= before["answer"]["accuracy"]
    record = read_items(tmp_path / "replay2")[0]
    assert record["draft"] == "" and [c["quoted"] for c in record["verdict"]["candidates"]] == [True]
    assert record["refused"] or record["answer"].startswith("资料原文：“")

    # a damaged record is named by file and line, for a replay and for a resumed run,
    # and the run's own results are left as they were
    lines = (first / "items.jsonl").read_text(encoding="utf-8").splitlines()
    (first / "items.jsonl").write_text("\n".join([lines[0], "[1, 2]", *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"items.jsonl:2: not an item record$"):
        eval_cli.run_qa(qa_args(tmp_path / "replay3", replay=first), scripted(no_model, tmp_path))
    with pytest.raises(DataError, match=r"items.jsonl:2: not an item record; use --fresh"):
        eval_cli.run_qa(qa_args(first), scripted(no_model, tmp_path))
    assert (first / "items.jsonl").read_text(encoding="utf-8").splitlines()[1] == "[1, 2]"

    with pytest.raises(DataError, match="--mode reading"):
        eval_cli.run_qa(qa_args(tmp_path / "x", mode=None, replay=first), scripted(no_model, tmp_path))
    with pytest.raises(DataError, match="no such file"):
        eval_cli.run_qa(qa_args(tmp_path / "y", replay=tmp_path / "nothing"), scripted(no_model, tmp_path))


class Interrupting(ScriptedGenerator):
    """Replies like ScriptedGenerator, then raises KeyboardInterrupt on call `stop_at`."""

    def __init__(self, stop_at, *replies):
        super().__init__(*replies)
        self.stop_at = stop_at

    def generate(self, messages, **kw):
        if len(self.prompts) + 1 == self.stop_at:
            raise KeyboardInterrupt
        return super().generate(messages, **kw)


def test_an_interrupted_run_resumes_where_it_stopped(fake_models, tmp_path):
    out = tmp_path / "qa"
    with pytest.raises(KeyboardInterrupt):
        eval_cli.run_qa(qa_args(out), scripted(Interrupting(3, *REPLIES), tmp_path))
    assert [r["id"] for r in read_items(out)] == ["q1", "q2"]  # finished items are on disk

    rest = ScriptedGenerator(*REPLIES[2:])
    summary = eval_cli.run_qa(qa_args(out), scripted(rest, tmp_path))
    assert len(rest.prompts) == 4  # q1 and q2 were not asked again
    assert summary["n"] == 6 and summary["answer"]["accuracy"] == pytest.approx(4 / 5)

    again = ScriptedGenerator()
    assert eval_cli.run_qa(qa_args(out), scripted(again, tmp_path)) == summary | {"config": summary["config"]}
    assert again.prompts == []


def test_a_resumed_run_must_use_the_same_settings(fake_models, tmp_path):
    out = tmp_path / "qa"
    eval_cli.run_qa(qa_args(out, limit=2), scripted(ScriptedGenerator(*REPLIES), tmp_path))
    with pytest.raises(DataError, match="another configuration .*generator: 'llama.cpp' then, 'extractive' now"):
        eval_cli.run_qa(qa_args(out, generator="extractive"), scripted(ScriptedGenerator(), tmp_path))
    summary = eval_cli.run_qa(qa_args(out, generator="extractive", fresh=True),
                              scripted(ScriptedGenerator(*REPLIES), tmp_path))
    assert summary["n"] == 6


def test_a_line_cut_short_by_a_crash_is_dropped(tmp_path):
    log = ItemLog(tmp_path, {"task": "qa"})
    log.append({"id": "a", "scores": {}})
    with (tmp_path / "items.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "b", "sco')
    log = ItemLog(tmp_path, {"task": "qa"})
    assert list(log.done) == ["a"]
    log.append({"id": "c"})
    assert [json.loads(x)["id"] for x in (tmp_path / "items.jsonl").read_text().splitlines()] == ["a", "c"]


def test_eval_qa_corpus_mode_through_the_cli(rag, tmp_path):
    out = tmp_path / "corpus"
    code, _, err = rag("eval", "qa", "--data", str(QA), "--mode", "corpus", "--generator",
                       "extractive", "--limit", "4", "--seed", "1", "--out", str(out), "--quiet")
    assert code == 0, err
    summary = summary_of(out)
    assert summary["mode"] == "corpus" and summary["n"] == 4
    assert summary["config"]["generator"] == "extractive" and summary["config"]["limit"] == 4
    for section in ("retrieval", "answer", "citation", "refusal"):
        assert in_unit_range(summary[section]), section
    items = read_items(out)
    assert len(items) == 4 and all(r["retrieved"] for r in items)
    assert set(items[0]["scores"]) >= {"accuracy", "char_f1", "rouge_l", "citation_precision",
                                       "recall@1", "mrr@10", "ndcg@10", "refused"}
    assert set(items[0]["timings"]) >= {"retrieve_s", "total_s"}


def test_eval_qa_against_an_existing_index(rag, tmp_path, archive):
    index = tmp_path / "index"
    code, _, err = rag("ingest", str(archive), "--index", str(index), "--quiet")
    assert code == 0, err
    gold = tmp_path / "index_qa.jsonl"
    gold.write_text(json.dumps({"id": "x1", "question": "2025青川马拉松共有多少人报名？",
                                "answer": ["4.2万人"], "answer_mode": "any"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    out = tmp_path / "idx"
    code, _, err = rag("eval", "qa", "--data", str(gold), "--index", str(index), "--generator",
                       "extractive", "--out", str(out), "--quiet")
    assert code == 0, err
    summary = summary_of(out)
    assert summary["mode"] == "index" and summary["answer"]["accuracy"] == 1.0
    assert "retrieval" not in summary  # no passages: answers are scored, nothing else
    code, _, err = rag("eval", "qa", "--data", str(gold), "--index", str(index), "--mode",
                       "reading", "--out", str(out))
    assert code == 2 and "--mode does not apply" in err


def test_bad_gold_data_is_a_clear_error(rag, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q", "question": "问？", "answer": "甲"}\n', encoding="utf-8")
    code, _, err = rag("eval", "qa", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2 and f"{bad}:1: field 'answer' must be a list of strings" in err
    code, _, err = rag("eval", "summary", "--data", str(QA), "--out", str(tmp_path / "o"))
    assert code == 2 and "takes summary or brief items" in err


# ---------------------------------------------------------------- summaries and briefs


def test_eval_summary_of_articles(rag, tmp_path):
    out = tmp_path / "sum"
    code, _, err = rag("eval", "summary", "--data", str(DATA / "eval_summary.jsonl"), "--generator",
                       "extractive", "--out", str(out), "--quiet")
    assert code == 0, err
    summary = summary_of(out)
    assert summary["task"] == "summary" and summary["mode"] == "summary" and summary["n"] == 2
    assert set(summary["summary"]) == {"rouge_l", "key_fact_recall", "citation_precision",
                                       "citation_figures"}
    assert summary["summary"]["citation_figures"] == 1.0  # quoted sentences cite their own text
    assert in_unit_range(summary["summary"]) and summary["summary"]["rouge_l"] > 0.2
    items = read_items(out)
    assert items[0]["facts"] and items[0]["prediction"] and items[0]["citations"]


def test_eval_summary_of_briefs_against_an_index(rag, tmp_path, archive):
    index = tmp_path / "index"
    rag("ingest", str(archive), "--index", str(index), "--quiet")
    out = tmp_path / "briefs"
    data = str(DATA / "eval_brief.jsonl")
    code, _, err = rag("eval", "summary", "--data", data, "--out", str(out))
    assert code == 2 and "pass --index DIR" in err
    code, _, err = rag("eval", "summary", "--data", data, "--index", str(index), "--generator",
                       "extractive", "--out", str(out), "--quiet")
    assert code == 0, err
    summary = summary_of(out)
    assert summary["mode"] == "brief" and summary["n"] == 2
    items = {r["id"]: r for r in read_items(out)}
    assert items["b1"]["facts"] == ["4.2万人", "4月13日"]
    assert items["b1"]["scores"]["rouge_l"] is None  # no reference brief to compare with
    assert 0.0 <= summary["summary"]["key_fact_recall"] <= 1.0


# ---------------------------------------------------------------- compare


def run_summary(accuracy, false_refusals, p50):
    return {
        "task": "qa", "dataset": ["a.jsonl"], "n": 30, "mode": "reading", "config": {"commit": "abc"},
        "answer": {"accuracy": accuracy, "char_f1": 0.5, "rouge_l": 0.5},
        "refusal": {"n_unanswerable": 10, "refusal_rate": 0.8, "n_answerable": 20,
                    "false_refusal_rate": false_refusals},
        "latency_s": {"p50": p50, "p95": 2 * p50},
    }


def test_compare_flags_regressions_in_the_right_direction():
    rows = {r.metric: r for r in compare(run_summary(0.70, 0.10, 10.0), run_summary(0.60, 0.20, 13.0))}
    assert rows["answer.accuracy"].flag == "regression" and rows["answer.accuracy"].delta == pytest.approx(-0.1)
    assert rows["refusal.false_refusal_rate"].flag == "regression"  # lower is better
    assert rows["latency_s.p50"].flag == "regression"  # 30% slower
    assert rows["answer.char_f1"].flag == ""
    assert rows["refusal.n_answerable"].flag == "count"
    better = {r.metric: r.flag for r in compare(run_summary(0.60, 0.20, 10.0), run_summary(0.70, 0.10, 11.0))}
    assert better["answer.accuracy"] == "improvement" and better["refusal.false_refusal_rate"] == "improvement"
    assert better["latency_s.p50"] == ""  # 10% slower is within tolerance
    tiny = {r.metric: r.flag for r in compare(run_summary(0.6, 0.1, 0.001), run_summary(0.6, 0.1, 0.003))}
    assert tiny["latency_s.p50"] == ""  # 3x, but 2 ms: noise


def test_eval_compare_prints_a_table_and_fails_on_regressions(rag, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, data in ((a, run_summary(0.70, 0.10, 10.0)), (b, run_summary(0.60, 0.10, 10.0))):
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps(data), encoding="utf-8")
    code, out, _ = rag("eval", "compare", str(a), str(b))
    assert code == 1
    assert "| answer.accuracy | 0.700 | 0.600 | -0.100 | **REGRESSION** |" in out
    assert "1 regression(s)" in out
    code, out, _ = rag("eval", "compare", str(a), str(a))
    assert code == 0 and "no regressions" in out
    code, _, err = rag("eval", "compare", str(a), str(tmp_path / "missing"))
    assert code == 2 and "no summary.json" in err


def test_rag_eval_help_is_forwarded(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", "--help"])
    assert exit_.value.code == 0
    assert "rag eval" in capsys.readouterr().out


def test_a_right_answer_citing_a_passage_without_the_gold_string_is_counted_apart():
    from eval.data import QAItem
    from eval.qa import score
    from rag.results import Answer, AnswerSentence, Citation, Evidence

    item = QAItem("x1", "2号线土建完成了多少？", ("85%",), passages=("2号线土建工程已完成85%。",))
    wrong_source = Citation(1, "a", "别的报道", "2025-03-01", "s", "p", "1号线客流增长12%。", 0, 9)
    shown = Evidence(1, "a", "别的报道", "2025-03-01", "1号线客流增长12%。", 0, 9, 1.0)
    answer = Answer(item.question, item.question, "2号线土建完成85%[1]。", False,
                    (AnswerSentence("2号线土建完成85%。", (1,), True),), (wrong_source,),
                    evidence=(shown,))
    record = score(item, answer, None, lambda aid, text: aid)
    assert record["scores"]["accuracy"] == 1.0
    assert record["scores"]["citation_holds_gold"] == 0.0 and record["scores"]["evidence_holds_gold"] == 0.0


def test_lenient_accuracy_is_reported_beside_the_strict_one_for_answer_and_draft():
    from eval.data import QAItem
    from eval.qa import score, summarize
    from rag.results import Answer, AnswerSentence, Citation

    item = QAItem("x2", "年均增速是多少？", ("低于1.1%",), passages=("年均增速低于1.1%。",))
    cited = Citation(1, "a", "报道", "2025-03-01", "s", "p", "年均增速低于1.1%。", 0, 9)
    kept = Answer(item.question, item.question, "年均增速为1.1%[1]。", False,
                  (AnswerSentence("年均增速为1.1%。", (1,), True),), (cited,), draft="年均增速为1.1%[1]。")
    lost = Answer(item.question, item.question, "资料中没有相关信息。", True, (), (cited,),
                  draft="年均增速为1.1%[1]。")
    records = [score(item, a, None, lambda aid, text: aid) for a in (kept, lost)]
    assert [r["scores"]["accuracy"] for r in records] == [0.0, 0.0]
    assert [r["scores"]["lenient_accuracy"] for r in records] == [1.0, 0.0]
    assert [r["scores"]["draft_lenient_accuracy"] for r in records] == [1.0, 1.0]  # the check lost one
    answer = summarize(records)["answer"]
    assert answer["lenient_accuracy"] == 0.5 and answer["draft_lenient_accuracy"] == 1.0


def _gate_run(folder, embedding_model, rows):
    """A qa run's folder holding candidates with the gate's features and their labels."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"embedding_model": embedding_model}), encoding="utf-8")
    with (folder / "items.jsonl").open("w", encoding="utf-8") as f:
        for i, (p_yes, cover, right) in enumerate(rows):
            candidate = {"text": "…", "quoted": False, "probability": 0.5, "right": right,
                         "features": {"p_yes": p_yes, "cover": cover}}
            f.write(json.dumps({"id": f"{folder.name}-{i}", "answerable": True, "scores": {},
                                "verdict": {"candidates": [candidate]}}) + "\n")


def test_fit_gate_learns_from_labelled_candidates_and_writes_plain_numbers(tmp_path):
    import random

    from eval import fit_gate
    from rag.answer import gate as gates

    rng = random.Random(0)
    rows = []
    for _ in range(200):
        right = rng.random() < 0.5
        rows.append((rng.gauss(1.5 if right else -1.0, 1.0), rng.random(), right))
    _gate_run(tmp_path / "a", "e5", rows[:120])
    _gate_run(tmp_path / "b", "e5", rows[120:])
    out = tmp_path / "gate.json"
    fit_gate.run([tmp_path / "a", tmp_path / "b"], out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["embedding_model"] == "e5" and data["fitted_on"] == ["a", "b"]
    gate = gates.load(out)
    model = gate.with_probability
    weights = dict(zip(model.features, model.weights, strict=True))
    assert weights["p_yes"] > 0.5 > abs(weights["cover"])  # the signal, not the noise
    assert model.probability({"p_yes": 3.0, "cover": 0.5}) > 0.8 > 0.2 > model.probability({"p_yes": -3.0, "cover": 0.5})
    strict, loose = model.threshold(0.1), model.threshold(0.4)
    assert strict >= loose > 0.0
    assert "p_yes" not in gate.without_probability.features
    # runs of two embedding models cannot share one scale of cosines
    _gate_run(tmp_path / "c", "bge", rows[:50])
    with pytest.raises(DataError, match="embedding models"):
        fit_gate.run([tmp_path / "a", tmp_path / "c"], tmp_path / "other.json")
    with pytest.raises(DataError, match="no such file"):
        fit_gate.run([tmp_path / "missing"], tmp_path / "other.json")
