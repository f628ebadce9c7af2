"""The answer gate: its features, the shipped fitted model, and its decisions (fakes)."""

import json

import pytest
from fakes import ScriptedGenerator

from rag.answer import gate as gates
from rag.answer.ask import ask
from rag.results import Evidence
from rag.types import Hit, Passage


def hits_of(*rows, dense=0.9):
    out = []
    for n, (title, date, text) in enumerate(rows, start=1):
        p = Passage(f"p{n}", f"a{n}", 0, 0, len(text), text)
        out.append(Hit(n, p, title, date, f"{title}.txt", 1.0 / n, n, n, dense, 1.0))
    return out


MINE = ("柳林煤矿", "2024-12-28", "柳林煤矿共有104套有线、无线、便携式摄像头。井下作业人员实行实名管理。")
MEETING = ("县人大常委会召开主任会议", "2025-03-03",
           "3月2日，县人大常委会召开五届二十一次主任会议。会议要求认真筹备五届二次会议。")


def features(question, text, hits, cited=(1,), **options):
    candidate = gates.Candidate(((text, cited),), False)
    options = {"refused": False, "supported_share": 1.0, "p_yes": 0.9, **options}
    return gates.score(question, [candidate], hits, (), **options)[0]


def test_features_say_what_the_answer_is_about():
    hits = hits_of(MINE)
    off = features("柳林煤矿井下一共有多少名职工？", "柳林煤矿井下共有104套摄像头。", hits)
    on = features("柳林煤矿有多少套摄像头？", "柳林煤矿共有104套摄像头。", hits)
    assert off["misfit"] == 1.0 and on["misfit"] == 0.0  # 套 is no count of 职工
    assert on["cover"] > off["cover"]
    # the date of one meeting does not answer when another opens
    hits = hits_of(MEETING)
    assert features("县人大五届二次会议哪一天开幕？", "3月2日。", hits)["anchors_missed"] == 1.0
    assert features("县人大常委会五届二十一次主任会议是哪一天召开的？", "3月2日。", hits)["anchors_missed"] == 0.0
    # a word the passages never mention
    assert features("柳林煤矿的矿长是谁？", "104套。", hits_of(MINE))["absent"] > 0
    assert features("柳林煤矿有多少套摄像头？", "104套。", hits_of(MINE))["absent"] == 0
    # the model's probability as log-odds, and whether it refused
    x = features("柳林煤矿有多少套摄像头？", "104套。", hits_of(MINE), p_yes=0.5, refused=True)
    assert x["p_yes"] == 0.0 and x["refused"] == 1.0 and x["refused_p_yes"] == 0.0
    assert set(x) == set(gates.FEATURES) - {"cosine"}  # no embedder: the gate takes its mean


def test_the_shipped_gate_is_plain_numbers_with_thresholds_for_each_risk():
    data = json.loads(gates.GATE_FILE.read_text(encoding="utf-8"))
    assert data["fitted_on"]  # fitted, not a placeholder
    gate = gates.load()
    for model in (gate.with_probability, gate.without_probability):
        assert set(model.features) <= set(gates.FEATURES)
        assert model.risks, "no threshold was reached on the fitting data"
        thresholds = [model.threshold(r / 100) for r in range(5, 100, 5)]
        assert thresholds == sorted(thresholds, reverse=True)  # more risk, lower bar
        assert model.threshold(1.0) == 0.0
    assert "p_yes" in gate.with_probability.features
    assert "p_yes" not in gate.without_probability.features


def test_the_shipped_gate_trusts_the_models_yes_and_distrusts_off_target_answers():
    model = gates.load().with_probability
    hits = hits_of(MINE)
    on = features("柳林煤矿有多少套摄像头？", "柳林煤矿共有104套摄像头。", hits, p_yes=0.95)
    assert model.probability(on) > model.probability({**on, "p_yes": features(
        "柳林煤矿有多少套摄像头？", "104套。", hits, p_yes=0.05)["p_yes"]})
    off = features("柳林煤矿井下一共有多少名职工？", "柳林煤矿井下共有104套摄像头。", hits, p_yes=0.95)
    assert model.probability(off) < model.probability({**off, "misfit": 0.0})


class Probing(ScriptedGenerator):
    def __init__(self, reply, yes):
        super().__init__(reply)
        self.yes = yes

    def choice_probabilities(self, messages, choices):
        return [self.yes, 1 - self.yes]


def test_the_gate_alone_decides_and_its_verdict_is_kept():
    hits = hits_of(MINE)
    sure = ask("柳林煤矿有多少套摄像头？", lambda q, s, u: hits, Probing("柳林煤矿共有104套摄像头。[1]", 0.97))
    assert not sure.refused and "104套" in sure.answer
    assert sure.verdict.chosen is not None and sure.verdict.probability >= sure.verdict.threshold
    doubtful = ask("柳林煤矿井下一共有多少名职工？", lambda q, s, u: hits,
                   Probing("柳林煤矿井下共有104套摄像头。[1]", 0.03))
    assert doubtful.refused and doubtful.verdict.chosen is None
    assert doubtful.draft == "柳林煤矿井下共有104套摄像头。[1]"  # what the model wrote is kept
    # a stricter risk refuses what a looser one shows
    p = sure.verdict.probability
    assert ask("柳林煤矿有多少套摄像头？", lambda q, s, u: hits, Probing("柳林煤矿共有104套摄像头。[1]", 0.97),
               risk=0.0).refused == (p < gates.load().with_probability.threshold(0.0))


def test_a_refused_draft_becomes_the_best_evidence_sentence_quoted():
    ev = (Evidence(1, "a1", "柳林煤矿", "2024-12-28", "柳林煤矿共有104套摄像头。", 0, 14, 0.9),
          Evidence(1, "a1", "柳林煤矿", "2024-12-28", "井下作业人员实行实名管理。", 14, 27, 0.3))
    quoted = gates.quote(ev)
    assert quoted.quoted and quoted.text == "资料原文：“柳林煤矿共有104套摄像头”。" and quoted.cited == (1,)
    assert gates.quote(()) is None


def test_a_model_file_with_an_unknown_feature_is_refused(tmp_path):
    model = gates.Model(("p_yes",), (1.0,), 0.0, (0.0,), (1.0,), ((0.1, 0.9),))
    assert gates.Model.from_json(model.to_json()) == model
    bad = {**model.to_json(), "features": ["mood"]}
    with pytest.raises(ValueError, match="mood"):
        gates.Model.from_json(bad)


def test_the_models_sentences_come_first_and_a_quote_needs_the_stricter_bar():
    from rag.results import Scored, Verdict

    draft = Scored("27座。", False, 0.3, {})
    quote = Scored("资料原文：“柳林县共有27座煤矿”。", True, 0.5, {})
    verdict = Verdict(0.2, (draft, quote), quote_threshold=0.6)
    assert verdict.chosen is draft and verdict.best is quote  # surer, but the model's answer first
    assert Verdict(0.2, (quote,), quote_threshold=0.6).chosen is None
    assert Verdict(0.2, (quote,), quote_threshold=0.45).chosen is quote
    assert Verdict(0.4, (draft, quote), quote_threshold=0.45).chosen is quote
    model = gates.load().with_probability
    assert model.threshold(0.25) >= model.threshold(0.4)  # the quote's bar is the stricter


def test_a_question_is_embedded_once_for_retrieval_and_the_gate(tmp_path):
    from fakes import FakeEmbedder

    from rag.config import Settings
    from rag.generate import ExtractiveGenerator
    from rag.service import Service

    model = gates.load().embedding_model  # the gate's cosines count only on its model's scale
    embedder = FakeEmbedder(model_id=model)
    settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model=model, refuse_below=0.0)
    service = Service(settings, embedder=embedder, generator=ExtractiveGenerator())
    (tmp_path / "mine.txt").write_text("柳林煤矿\n\n2024-12-28\n\n" + MINE[2], encoding="utf-8")
    service.ingest([tmp_path / "mine.txt"])
    before = embedder.queries_embedded
    answer = service.ask("柳林煤矿有多少套摄像头？")
    assert "cosine" in answer.verdict.candidates[0].features  # the gate had the cosine
    assert embedder.queries_embedded == before + 1  # and the question was embedded once
    service.ask("柳林煤矿有多少套摄像头？")
    assert embedder.queries_embedded == before + 1  # asked again: not at all
    service.close()
