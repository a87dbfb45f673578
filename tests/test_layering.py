"""The layers of docs/ARCHITECTURE.md hold.

- runtime/ never imports TensorFlow, Keras, train/ or convert/ (the CLI's `train` and
  `convert` commands import them inside their bodies);
- inside runtime/, imports go down the layers: errors.py, native/ and files/ at the bottom,
  core/ above them, live/ and bench/ above core/, cli/ on top; nothing imports cli/ but the
  console script;
- convert/ never imports train/;
- no module of runtime/, train/ or convert/ is part of an import cycle.

Imports are read from the source (ast), wherever they are: at module level, under
`if TYPE_CHECKING:`, inside functions, and `__import__("...")` / `importlib.import_module("...")`
with a literal name. A lazy import defers a dependency; it does not remove it.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
# The three folders install as sub-packages of the namespace package `edge_digits`.
FOLDERS = {
    "runtime": "edge_digits.runtime",
    "train": "edge_digits.train",
    "convert": "edge_digits.convert",
}
BANNED = ("tensorflow", "keras", "tf_keras", "edge_digits.train", "edge_digits.convert")
PACKAGE = "edge_digits.runtime"

# What each layer of runtime/ may import from runtime/, besides itself (docs/ARCHITECTURE.md,
# "Which may import which"). "" is the package itself, runtime/__init__.py (its public names,
# loaded lazily, and `__version__`).
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "native": {"errors"},
    "files": {"errors"},
    "core": {"errors", "native", "files"},
    "live": {"errors", "native", "files", "core"},
    "bench": {"errors", "native", "files", "core"},
    "serve": {"errors", "native", "files", "core"},
    "cli": {"", "errors", "native", "files", "core", "live", "bench", "serve"},
    "": {"errors", "core"},
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    path: Path
    line: int
    target: str  # the module imported, dotted and absolute
    lazy: bool  # inside a function, or by name at run time

    def __str__(self) -> str:
        where = f"{self.path.relative_to(ROOT)}:{self.line}"
        return f"{where} imports {self.target}{' (lazily)' if self.lazy else ''}"


def module_name(path: Path) -> str:
    """runtime/core/batch.py -> edge_digits.runtime.core.batch; a package's __init__.py is
    the package."""
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [FOLDERS[folder], *rest]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of runtime/, train/ and convert/, by dotted name."""
    return {
        module_name(path): path
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


@cache
def imports_of(name: str) -> tuple[Import, ...]:
    """Every import in module `name`, resolved to absolute dotted names."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def resolve(level: int, module: str | None) -> str:
        if not level:
            return module or ""
        base = package.split(".")[: len(package.split(".")) - (level - 1)]
        return ".".join([*base, *([module] if module else [])])

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(name, path, node.lineno, alias.name, lazy))
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.level, node.module)
            for alias in node.names:
                # `from . import x` imports the module x when there is one, else a name of `.`
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules() else base
                found.append(Import(name, path, node.lineno, target, lazy))
        elif isinstance(node, ast.Call) and _imports_by_name(node):
            literal = node.args[0]
            assert isinstance(literal, ast.Constant) and isinstance(literal.value, str)
            found.append(Import(name, path, node.lineno, literal.value, True))
        inside = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return tuple(found)


def _imports_by_name(call: ast.Call) -> bool:
    """`__import__("a.b", ...)` or `importlib.import_module("a.b")` with a literal absolute name."""
    function = call.func
    named = (isinstance(function, ast.Name) and function.id == "__import__") or (
        isinstance(function, ast.Attribute) and function.attr == "import_module"
    )
    return (
        named
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
        and not call.args[0].value.startswith(".")
    )


def internal(target: str) -> str | None:
    """The module of runtime/, train/ or convert/ that `target` is (or is inside), if any."""
    while target:
        if target in modules():
            return target
        target = target.rpartition(".")[0]
    return None


def layer(name: str) -> str:
    """edge_digits.runtime.core.batch -> "core"; edge_digits.runtime.errors -> "errors";
    edge_digits.runtime -> ""."""
    return name.removeprefix(PACKAGE).lstrip(".").split(".")[0]


def runtime_modules() -> list[str]:
    return [name for name in modules() if name == PACKAGE or name.startswith(PACKAGE + ".")]


# -- runtime/ never imports TensorFlow, Keras, train/ or convert/ -----------------------------


@pytest.mark.parametrize("name", runtime_modules())
def test_runtime_modules_do_not_import_heavy_packages(name):
    commands = f"{PACKAGE}.cli.commands"
    for found in imports_of(name):  # relative imports are resolved: `...train` is caught too
        if found.target.startswith(BANNED):
            # The one exception: the `train` and `convert` commands, inside their bodies.
            assert name == commands and found.lazy, str(found)


# -- the layers inside runtime/ --------------------------------------------------------------


def test_every_runtime_module_belongs_to_a_layer():
    unknown = sorted(name for name in runtime_modules() if layer(name) not in MAY_IMPORT)
    assert not unknown, (
        f"{unknown}: not in a layer of docs/ARCHITECTURE.md; add it there and to MAY_IMPORT"
    )


def test_runtime_imports_go_down_the_layers():
    wrong = []
    for name in runtime_modules():
        source = layer(name)
        for found in imports_of(name):
            target = internal(found.target)
            if target is None or not (target == PACKAGE or target.startswith(PACKAGE + ".")):
                continue
            if layer(target) != source and layer(target) not in MAY_IMPORT.get(source, set()):
                allowed = ", ".join(sorted(f"{t or 'runtime'}/" for t in MAY_IMPORT[source]))
                wrong.append(f"{found} ({source or 'runtime'}/ may import: {allowed or 'nothing'})")
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_the_cli_but_its_console_script():
    cli = f"{PACKAGE}.cli"
    wrong = [
        str(found)
        for name in modules()
        if not (name == cli or name.startswith(cli + "."))
        for found in imports_of(name)
        if (internal(found.target) or "").startswith(cli)
    ]
    assert not wrong, "\n".join(wrong)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    scripts = re.search(r"^\[project\.scripts\]\n(.*?)^\[", pyproject, re.M | re.S)
    assert scripts and scripts.group(1).strip() == f'edge-digits = "{cli}:main"'


def test_convert_never_imports_train_and_train_uses_convert_only_for_the_default_model():
    wrong = []
    for name in modules():
        for found in imports_of(name):
            target = internal(found.target) or found.target
            if name.startswith("edge_digits.convert") and target.startswith("edge_digits.train"):
                wrong.append(str(found))
            if (
                name.startswith("edge_digits.train")
                and target.startswith("edge_digits.convert")
                and name != "edge_digits.train.default_model"
            ):
                wrong.append(str(found))
    assert not wrong, "\n".join(wrong)


# -- no import cycles ------------------------------------------------------------------------


def import_graph() -> dict[str, dict[str, Import]]:
    """Module -> the modules of runtime/, train/ and convert/ it imports (and where)."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules()}
    for name in modules():
        for found in imports_of(name):
            target = internal(found.target)
            if target is not None and target != name:
                graph[name].setdefault(target, found)
    return graph


def find_cycle(graph: dict[str, dict[str, Import]]) -> list[Import] | None:
    """One import cycle as the imports that make it, or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[Import] = []

    def search(name: str) -> list[Import] | None:
        state[name] = "open"
        for target, found in sorted(graph[name].items()):
            if state.get(target) == "open":  # back to a module on the path: a cycle
                sources = [step.source for step in path]
                start = sources.index(target) if target in sources else len(path)
                return [*path[start:], found]
            if target not in state:
                path.append(found)
                cycle = search(target)
                if cycle:
                    return cycle
                path.pop()
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = search(name)
            if cycle:
                return cycle
    return None


def test_no_import_cycles_in_runtime_train_or_convert():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle:\n" + "\n".join(str(step) for step in cycle or [])


def test_the_cycle_finder_finds_a_cycle_and_names_its_imports():
    def step(source: str, target: str) -> Import:
        return Import(source, ROOT / "runtime" / f"{source}.py", 1, target, False)

    graph = {
        "a": {"b": step("a", "b")},
        "b": {"c": step("b", "c")},
        "c": {"a": step("c", "a"), "d": step("c", "d")},
        "d": {},
    }
    assert [s.source for s in find_cycle(graph) or []] == ["a", "b", "c"]
    assert find_cycle({"a": {"b": step("a", "b")}, "b": {}}) is None
    assert [s.source for s in find_cycle({"a": {"a": step("a", "a")}}) or []] == ["a"]


def test_the_architecture_document_names_every_runtime_module():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted(RUNTIME.rglob("*.py"))
        if path.name != "__init__.py" and f"`{path.name}`" not in text
    ]
    assert not missing, f"docs/ARCHITECTURE.md does not describe: {missing}"


# -- in a running process --------------------------------------------------------------------


def test_classifying_in_a_fresh_process_never_imports_tensorflow(digit_pngs):
    script = """
import json, sys
from typer.testing import CliRunner
from edge_digits.runtime import Classifier
from edge_digits.runtime.cli import app
label = Classifier().classify_file(sys.argv[1]).label
result = CliRunner().invoke(app, ["classify", "--json", sys.argv[1]])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")
               or m.startswith(("edge_digits.train", "edge_digits.convert")))
print(json.dumps({"label": label, "exit": result.exit_code, "heavy": heavy}))
"""
    path, expected = digit_pngs[0]
    completed = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report == {"label": expected, "exit": 0, "heavy": []}
