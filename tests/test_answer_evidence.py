"""Evidence selection: the sentences that answer, within a budget, pointing at their
article's characters, and shown before the model writes (fakes)."""

from fakes import ScriptedGenerator, answer_all_gate

from rag.answer.ask import ask
from rag.answer.evidence import select_evidence
from rag.results import answer_to_json
from rag.types import Hit, Passage

ARTICLE = (
    "11月25日上午，沙溪河流域水环境综合治理工程开工。这是我市今年投资规模最大的生态环境项目，"
    "总投资12.6亿元。其中，将新建和改造污水管网186公里。"
    "工程由市城投集团承建。项目负责人说，工期约两年。"
)
LATER = (
    "截至目前，工程已完成投资8.3亿元，占总投资的65.9%。"
    "计划新建和改造的186公里污水管网中，已有142公里完工。"
    "岸边新栽的垂柳已经成荫，不时有白鹭从水面掠过。"
)


def hits_of(*rows):
    """Hits over (article id, title, date, text, start in the article) rows, rank order."""
    out = []
    for n, (aid, title, date, text, offset) in enumerate(rows, start=1):
        p = Passage(f"p{n}", aid, 0, offset, offset + len(text), text)
        out.append(Hit(n, p, title, date, f"{aid}.txt", 1.0 / n, n, n, 0.9, 1.0))
    return out


HITS = hits_of(
    ("later", "沙溪河治理完成投资过半", "2025-05-20", LATER, 0),
    ("start", "沙溪河治理工程开工", "2024-11-26", ARTICLE, 40),
)


def test_the_sentence_with_the_asked_figure_is_chosen_and_points_at_its_characters():
    evidence = select_evidence("沙溪河治理工程总投资多少？", HITS, budget=120)
    texts = [e.text for e in evidence]
    assert "这是我市今年投资规模最大的生态环境项目，总投资12.6亿元。" in texts
    assert not any("白鹭" in t for t in texts)  # nothing about the question
    for e in evidence:
        hit = HITS[e.n - 1]
        source = " " * hit.passage.start + hit.passage.text  # the article, as far as known
        assert source[e.start : e.end] == e.text and e.article_id == hit.passage.article_id


def test_the_budget_bounds_the_evidence_but_the_best_sentence_always_comes():
    wide = select_evidence("沙溪河污水管网计划新建和改造多少公里？", HITS, budget=400)
    narrow = select_evidence("沙溪河污水管网计划新建和改造多少公里？", HITS, budget=60)
    assert sum(len(e.text) for e in narrow) <= 60 < sum(len(e.text) for e in wide)
    assert any("186公里" in e.text for e in narrow)
    tiny = select_evidence("沙溪河污水管网计划新建和改造多少公里？", HITS, budget=5)
    assert len(tiny) == 1 and "186公里" in tiny[0].text


def test_evidence_reads_in_passage_order_and_overlapping_windows_count_once():
    first, second = ARTICLE[:60], ARTICLE[30:]  # two windows of one article, overlapping
    hits = hits_of(("start", "开工", "2024-11-26", second, 30), ("start", "开工", "2024-11-26", first, 0))
    evidence = select_evidence("沙溪河治理工程总投资和污水管网各是多少？", hits, budget=400)
    keys = [(e.n, e.start) for e in evidence]
    assert keys == sorted(keys)
    starts = [e.start for e in evidence]
    assert len(starts) == len(set(starts))  # a sentence in both windows is shown once
    assert select_evidence("沙溪河？", []) == ()


def test_ask_shows_the_evidence_before_the_first_token_and_returns_it():
    events = []
    gen = ScriptedGenerator("总投资12.6亿元。[2]")
    answer = ask(
        "沙溪河治理工程总投资多少？", lambda q, s, u: HITS, gen,
        on_evidence=lambda ev: events.append(("evidence", len(ev))),
        on_token=lambda t: events.append(("token", t)), gate=answer_all_gate(), risk=1.0, quote_risk=1.0,
    )
    assert events[0][0] == "evidence" and events[0][1] >= 1
    assert all(kind == "token" for kind, _ in events[1:])
    assert answer.evidence and not answer.refused
    data = answer_to_json(answer)
    assert data["evidence"][0].keys() >= {"n", "article_id", "title", "text", "start", "end"}
    assert answer.timings["evidence_s"] <= answer.timings["first_token_s"]


def test_weak_retrieval_refuses_with_no_evidence_shown():
    shown = []
    weak = [Hit(h.rank, h.passage, h.title, h.published, h.source, h.score, 1, 1, 0.2, 1.0) for h in HITS]
    answer = ask("沙溪河治理工程总投资多少？", lambda q, s, u: weak, ScriptedGenerator(),
                 min_score=0.8, on_evidence=shown.append)
    assert answer.refused and shown == [] and answer.evidence == ()


def test_service_evidence_is_what_ask_shows_and_none_when_retrieval_is_too_weak(archive, tmp_path):
    from fakes import FakeEmbedder

    from rag.config import Settings
    from rag.service import Service

    def service(refuse_below):
        settings = Settings.load(env={}, index_dir=tmp_path / "index", embedding_model="fake-embedder",
                                 generator="extractive", refuse_below=refuse_below)
        return Service(settings, embedder=FakeEmbedder())

    open_door = service(0)
    open_door.ingest([archive])
    shown = []
    answer = open_door.ask("青川马拉松有多少人报名？", on_evidence=shown.append)
    assert open_door.evidence("青川马拉松有多少人报名？") == answer.evidence == shown[0]
    assert any("4.2万" in e.text for e in answer.evidence)
    strict = service(0.999)  # no fake cosine reaches it: ask refuses before the model
    assert strict.evidence("青川马拉松有多少人报名？") == ()
    assert strict.ask("青川马拉松有多少人报名？").refused
