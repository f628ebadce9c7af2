from pathlib import Path

import pytest

from rag.config import ConfigError, Settings


def test_defaults_file_env_and_overrides_in_order(tmp_path):
    cfg = tmp_path / "rag.toml"
    cfg.write_text('chunk_size = 300\ntop_k = 7\nindex_dir = "from-file"\n', encoding="utf-8")
    env = {"RAG_TOP_K": "9", "RAG_INDEX": "from-env", "OTHER": "x"}
    s = Settings.load(cfg, env=env, index_dir=None, chunk_overlap=2)
    assert s.chunk_size == 300  # file
    assert s.top_k == 9  # env beats file
    assert s.index_dir == Path("from-env")
    assert s.chunk_overlap == 2  # explicit override
    assert Settings.load(cfg, env=env, index_dir="cli").index_dir == Path("cli")


def test_bad_values_name_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="top_k"):
        Settings.load(env={"RAG_TOP_K": "many"})
    with pytest.raises(ConfigError, match="chunk_size"):
        Settings.load(env={"RAG_CHUNK_SIZE": "10"})
    with pytest.raises(ConfigError, match="unknown setting"):
        bad = tmp_path / "bad.toml"
        bad.write_text("colour = 'red'\n")
        Settings.load(bad, env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        broken = tmp_path / "broken.toml"
        broken.write_text("top_k = [\n")
        Settings.load(broken, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match=r"answer_risk must be within \[0, 1\]"):
        Settings.load(env={"RAG_ANSWER_RISK": "40"})  # a percentage where a share is meant
    with pytest.raises(ConfigError, match="quote_risk"):
        Settings.load(env={"RAG_QUOTE_RISK": "-0.1"})
    assert Settings.load(env={"RAG_ANSWER_RISK": "0.3"}).answer_risk == 0.3


def test_store_settings_are_checked_and_default_to_the_folder():
    assert Settings.load(env={}, index_dir="idx").store_uri == "idx"
    assert Settings.load(env={"RAG_STORE": "milvus:./a.db"}).store_uri == "milvus:./a.db"
    with pytest.raises(ConfigError, match="milvus_prefix"):
        Settings.load(env={"RAG_MILVUS_PREFIX": "rag-news"})
    with pytest.raises(ConfigError, match="milvus_lexical must be tokens or jieba"):
        Settings.load(env={"RAG_MILVUS_LEXICAL": "standard"})
