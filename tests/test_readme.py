"""The README's Python example runs as shown, and the example images read as labelled."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from edge_digits.runtime.cli import app
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs():
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    completed = subprocess.run(
        [sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, check=True
    )
    first, second = completed.stdout.splitlines()
    assert first.startswith("7 ")
    assert second == "(4, 10)"


@pytest.mark.pi
def test_example_images_read_as_their_names_say():
    result = CliRunner().invoke(app, ["classify", "--json", str(ROOT / "examples")])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 11
    for line in lines:
        record = __import__("json").loads(line)
        expected = int(re.search(r"label(\d)", record["path"]).group(1))
        assert record["label"] == expected, record
