"""The import structure: each wing of `rag` imports only the wings below it, the
adapters reach the core only through `rag.service`, and `rag` never imports `eval`.

Read from the source with `ast`, so a violation fails here before anything runs.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top; a module may import its own wing and any wing of a lower rank.
RANKS = {
    "rag": 0, "rag.types": 0, "rag.results": 0, "rag.errors": 0, "rag.config": 0, "rag.adapter": 0,
    "rag.text": 1,
    "rag.ingest": 2,
    "rag.models": 3,
    "rag.archive": 4,
    "rag.generate": 5,
    "rag.answer": 6,
    "rag.service": 7,
    "rag.web": 8,
    "rag.cli": 9,
}
SHARED = {"rag", "rag.types", "rag.results", "rag.errors", "rag.config", "rag.adapter", "rag.text"}
# Adapters use the core only through the service door and the shared modules.
ADAPTERS = {"rag.web", "rag.cli", "eval", "bench"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _wing(module: str) -> str:
    """`rag.answer.verify` → `rag.answer`; `rag.service` → `rag.service`; `eval.qa` → `eval`."""
    parts = module.split(".")
    if parts[0] != "rag":
        return parts[0]
    return ".".join(parts[:2]) if len(parts) > 1 else "rag"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    module = _module(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            # `from rag import web` imports the wing rag.web, not the package rag
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names
                      if base in ("rag", "eval") and a.name != "__version__"]
    return found


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _violations() -> list[str]:
    bad = []
    for path in _sources("rag", "eval", "bench") + [ROOT / "app.py"]:
        wing = _wing(_module(path))
        for line, target in _imports(path):
            top = target.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line} imports {target}"
            if top not in ("rag", "eval") or _wing(target) == wing:
                continue
            if top == "eval":
                if wing.startswith("rag"):
                    bad.append(f"{where}: rag never imports eval")
                continue
            target_wing = _wing(target)
            if wing in ADAPTERS or wing == "app":
                if target_wing not in SHARED | {"rag.service", "rag.web"}:
                    bad.append(f"{where}: an adapter uses rag.service and the shared modules only")
            elif RANKS[target_wing] > RANKS[wing]:
                bad.append(f"{where}: {wing} sits below {target_wing}")
    return bad


def test_no_wing_imports_a_higher_one_and_rag_never_imports_eval():
    assert _violations() == []


# Which store keeps an archive is decided by its URI in `rag.archive.stores`, once: outside
# the archive wing nothing imports a store's own module or asks a store of what kind it is.
STORE_MODULES = ("rag.archive.store", "rag.archive.milvus")
KIND_CHECK = re.compile(r"isinstance\([^)]*\b(Store|MilvusStore)\b|\.kind\s*[!=]=\s*[\"'](folder|milvus)")


def _store_checks() -> list[str]:
    bad = []
    for path in _sources("rag", "eval", "bench") + [ROOT / "app.py"]:
        if _wing(_module(path)) == "rag.archive" or not path.exists():
            continue
        where = path.relative_to(ROOT)
        bad += [f"{where}:{line} imports {target}" for line, target in _imports(path)
                if target == STORE_MODULES[0] or target.startswith(STORE_MODULES[1])]
        bad += [f"{where}:{n} checks a store's kind" for n, text in
                enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if KIND_CHECK.search(text)]
    return bad


def test_stores_are_chosen_in_one_place():
    assert _store_checks() == []


def test_the_store_check_catches_a_kind_check(tmp_path, monkeypatch):
    (tmp_path / "rag").mkdir()
    (tmp_path / "rag" / "service.py").write_text(
        "from rag.archive.store import Store\n\nok = isinstance(s, Store) or s.kind == 'folder'\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    found = _store_checks()
    assert any("imports rag.archive.store" in v for v in found)
    assert any("service.py:3 checks a store's kind" in v for v in found)


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    # A lower wing reaching up, and the core reaching into eval, are both reported.
    fake = tmp_path / "rag" / "text"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from rag.answer.verify import check_support\nimport eval.cli\n")
    (tmp_path / "eval").mkdir()
    (tmp_path / "bench").mkdir()
    (tmp_path / "app.py").write_text("from rag.archive.store import Store\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    found = _violations()
    assert any("rag.text sits below rag.answer" in v for v in found)
    assert any("rag never imports eval" in v for v in found)
    assert any("app.py" in v and "adapter" in v for v in found)


@pytest.mark.parametrize("wing", [w for w in RANKS if w.count(".") == 1 and (ROOT / w.replace(".", "/")).is_dir()])
def test_every_wing_says_what_lives_there_and_what_it_may_import(wing):
    doc = ast.get_docstring(ast.parse((ROOT / wing.replace(".", "/") / "__init__.py").read_text()))
    assert doc and "import" in doc, f"{wing}/__init__.py needs a docstring naming what it may import"


def _graph() -> dict[str, set[str]]:
    """Module → the rag modules it imports (a package import counts as its __init__)."""
    modules = {_module(p): p for p in _sources("rag")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {t for _, t in _imports(path) if t in modules and t != name}
    return graph


def test_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" → ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # The package `rag` itself only holds the version, which everything may read.
    assert [c for c in circles if not c.startswith("rag →")] == []


@pytest.mark.parametrize("argv", [["--help"], ["stats"], ["articles"]])
def test_commands_that_read_no_model_import_no_model_stack(argv, service, archive):
    service.ingest([archive])  # an index built with the fake embedder
    index = str(service.settings.index_dir)
    code = (
        "import sys\n"
        "from rag.cli import main\n"
        "try:\n"
        f"    code = main({argv!r} + ([] if {argv!r} == ['--help'] else ['--index', {index!r}]))\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'llama_cpp', 'gradio', 'faiss')\n"
        "print(code, sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    env = {**os.environ, "RAG_EMBEDDING_MODEL": "fake-embedder"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr
    if argv == ["stats"]:
        assert re.search(r"^articles\s+5$", done.stdout, re.M), done.stdout
    if argv == ["articles"]:
        assert len(done.stdout.splitlines()) == 5  # one line an article
