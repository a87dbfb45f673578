"""runtime/ never imports TensorFlow, Keras, train/ or convert/ (DESIGN.md: layering)."""

from __future__ import annotations

import ast
import re
import json
import subprocess
import sys
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[1] / "runtime"
BANNED = ("tensorflow", "keras", "tf_keras", "edge_digits.train", "edge_digits.convert")


def _module_level_imports(path: Path) -> list[str]:
    names = []
    for node in ast.parse(path.read_text()).body:  # top-level statements only
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(("." * node.level) + (node.module or ""))
    return names


@pytest.mark.parametrize(
    "path", sorted(RUNTIME.rglob("*.py")), ids=lambda p: str(p.relative_to(RUNTIME))
)
def test_runtime_modules_do_not_import_heavy_packages(path):
    for name in _module_level_imports(path):
        assert not name.startswith(BANNED), f"{path.name} imports {name}"
        assert not re.match(r"\.{2,}(train|convert)\b", name), f"{path.name} imports {name}"


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
