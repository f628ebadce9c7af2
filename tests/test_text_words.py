"""A cold query is segmented from the lexicon file, word by word, into exactly the tokens
the fully loaded dictionary gives."""

from __future__ import annotations

import json
from pathlib import Path

from rag.text import words

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "archive"


def _sentences() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.txt"))]
    texts += [json.loads(line)["text"] for line in
              (EXAMPLES / "news.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return [s for t in texts for s in t.replace("\n", "。").split("。") if s.strip()]


def test_the_lexicon_file_segments_as_the_loaded_dictionary_does(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    words._lexicon_tokenizer.cache_clear()
    assert words._lexicon_tokenizer() is None  # no file yet: the full dictionary is used
    words._write_lexicon(words.ready_jieba().dt)
    words._lexicon_tokenizer.cache_clear()
    lexicon = words._lexicon_tokenizer()
    assert lexicon is not None
    sentences = _sentences() + ["柳林县有多少座煤矿？", "GDP同比增长5.2%，CPI上涨0.3%", "2号线一期工程"]
    assert len(sentences) > 100
    for sentence in sentences:
        assert words._search_tokens(lexicon, sentence) == words.tokenize(sentence), sentence
    words._lexicon_tokenizer.cache_clear()


def test_a_lexicon_of_another_dictionary_is_not_used(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    words._write_lexicon(words.ready_jieba().dt)
    import sqlite3

    db = sqlite3.connect(str(tmp_path / "lexicon.sqlite"))
    db.execute("UPDATE meta SET value = 'another' WHERE key = 'stamp'")
    db.commit()
    db.close()
    words._lexicon_tokenizer.cache_clear()
    assert words._lexicon_tokenizer() is None
    assert words.tokenize_query("柳林县有多少座煤矿") == words.tokenize("柳林县有多少座煤矿")
    words._lexicon_tokenizer.cache_clear()
