"""The README's Python example runs as shown, and the example images read as labelled."""

from __future__ import annotations

import json
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
    assert second == "(4, 11)"  # the default model answers "not a digit" too


@pytest.mark.pi
def test_example_images_read_as_their_names_say():
    result = CliRunner().invoke(app, ["classify", "--json", str(ROOT / "examples")])
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    labelled = [record for record in records if re.search(r"label(\d)", record["path"])]
    # 11 MNIST-style digits, 10 real photos (examples/real/) and the sheet of digits there.
    assert (len(records), len(labelled)) == (22, 21)
    for record in labelled:
        assert record["label"] == int(re.search(r"label(\d)", record["path"]).group(1)), record
