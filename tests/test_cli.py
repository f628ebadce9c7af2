"""The `rag` command line, in-process, with the fake embedder standing in for the model."""

import json
import re

import pytest

from rag import cli


def test_ingest_search_articles_stats_delete(rag, archive):
    code, out, err = rag("ingest", str(archive), "--quiet")
    assert code == 0, err
    assert "added 5" in out and "skipped 0" in out

    code, out, _ = rag("search", "马拉松报名人数", "--json", "--k", "3")
    assert code == 0
    data = json.loads(out)
    assert data["query"] == "马拉松报名人数"
    hit = data["hits"][0]
    assert set(hit) >= {"rank", "article_id", "title", "published", "passage_id", "text",
                        "start", "end", "score", "dense_rank", "bm25_rank"}
    assert "马拉松" in hit["title"] and hit["rank"] == 1

    code, out, _ = rag("articles", "--json")
    articles = json.loads(out)
    assert len(articles) == 5 and {"id", "title", "published", "passages"} <= set(articles[0])

    code, out, _ = rag("stats", "--json")
    assert json.loads(out)["articles"] == 5

    code, out, _ = rag("show", hit["article_id"])
    assert code == 0 and "马拉松" in out

    code, out, _ = rag("delete", hit["article_id"])
    assert code == 0 and "deleted" in out
    code, out, _ = rag("articles", "--json")
    assert len(json.loads(out)) == 4


def test_plain_search_output_names_title_and_offsets(rag, archive):
    rag("ingest", str(archive), "--quiet")
    code, out, _ = rag("search", "寒潮降温")
    assert code == 0
    assert "[1]" in out and "寒潮" in out and "chars" in out


def test_ingest_exits_1_and_names_each_skipped_file(rag, archive, tmp_path):
    (archive / "empty.txt").write_text("")
    (archive / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    code, out, err = rag("ingest", str(archive), "--quiet")
    assert code == 1
    assert "empty.txt" in out and "photo.txt" in out
    assert "Traceback" not in out + err
    code, out, _ = rag("articles", "--json")
    assert len(json.loads(out)) == 5


def test_missing_or_empty_index_says_how_to_build_one(rag, tmp_path):
    code, out, err = rag("search", "任何问题")
    assert code == 2 and "rag ingest" in err and "Traceback" not in err


def test_bad_date_and_unknown_article_are_clear_errors(rag, archive):
    rag("ingest", str(archive), "--quiet")
    code, _, err = rag("search", "青川", "--since", "yesterday")
    assert code == 2 and "YYYY" in err
    code, _, err = rag("delete", "ffffffffffff")
    assert code == 2 and "no article" in err


def test_help_is_fast_and_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("ingest", "search", "articles", "stats", "delete"):
        assert command in out


def test_ask_json_with_the_extractive_backend(rag, archive):
    rag("ingest", str(archive), "--quiet")
    code, out, err = rag("ask", "青川马拉松有多少人报名？", "--generator", "extractive", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"question", "standalone_question", "answer", "refused", "sentences",
                         "citations", "evidence", "timings", "confidence", "prefill"}
    assert data["confidence"]["probability"] >= data["confidence"]["threshold"]
    assert not data["refused"] and "4.2万" in data["answer"]
    assert data["sentences"][0]["supported"] and data["sentences"][0]["citations"]
    cited = data["citations"][0]
    assert "马拉松" in cited["title"] and cited["text"] and cited["end"] > cited["start"]
    assert set(data["timings"]) == {"retrieve_s", "evidence_s", "first_token_s", "total_s"}
    assert data["prefill"] == {}  # the extractive backend reads no prompt
    assert any("4.2万" in e["text"] for e in data["evidence"])  # the evidence holds the answer


def test_ask_on_a_terminal_shows_the_evidence_before_the_answer(rag, archive, monkeypatch):
    rag("ingest", str(archive), "--quiet")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    code, out, err = rag("ask", "青川马拉松有多少人报名？", "--generator", "extractive")
    assert code == 0, err
    assert err.index("依据：") < err.index("回答：") < err.index("4.2万人报名", err.index("回答："))
    evidence_lines = err[err.index("依据："):err.index("回答：")]
    assert re.search(r"\[\d\] .*4\.2万", evidence_lines) and "《" in evidence_lines
    assert "4.2万" in out  # the verified answer on stdout


def test_ask_refuses_when_nothing_supports_an_answer(rag, archive):
    rag("ingest", str(archive), "--quiet")
    code, out, _ = rag("ask", "火星探测器何时着陆？", "--generator", "extractive", "--json")
    data = json.loads(out)
    assert code == 0 and data["refused"] and data["answer"] == "资料中没有相关信息。"


def test_chat_keeps_history_and_rewrites_follow_ups(rag, archive, monkeypatch):
    import io

    rag("ingest", str(archive), "--quiet")
    monkeypatch.setattr("sys.stdin", io.StringIO("青川马拉松有多少人报名？\n那它什么时候开跑？\n\n"))
    code, out, _ = rag("chat", "--generator", "extractive")
    assert code == 0
    assert "4.2万" in out
    assert "（理解为：青川马拉松有多少人报名，那它什么时候开跑？）" in out
    assert "4月13日" in out


def test_a_bug_surfaces_as_a_bug_not_as_a_user_error(rag, archive, monkeypatch):
    from rag.errors import StoreError
    from rag.service import Service

    assert rag("ingest", str(archive), "--quiet")[0] == 0

    def broken(self, *args, **kwargs):
        raise ValueError("a programming mistake")

    monkeypatch.setattr(Service, "search", broken)
    with pytest.raises(ValueError, match="a programming mistake"):
        rag("search", "马拉松")

    def refused(self, *args, **kwargs):
        raise StoreError("the index is busy")

    monkeypatch.setattr(Service, "search", refused)
    code, _, err = rag("search", "马拉松")
    assert code == 2 and err.strip() == "error: the index is busy"


def test_eval_is_a_plugin_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["eval", "--help"])
    assert exc.value.code == 0
    assert "retrieval" in capsys.readouterr().out


def test_reindex_embeds_the_stored_passages_again(rag, archive):
    rag("ingest", str(archive), "--quiet")
    code, out, err = rag("stats", "--json")
    passages = json.loads(out)["passages"]
    code, out, err = rag("reindex", "--quiet")
    assert code == 0, err
    assert f"embedded {passages:,} passages again" in out
    code, out, err = rag("search", "青川地铁", "--json")
    assert code == 0 and json.loads(out)["hits"]
