"""A normal (non-editable) install: the wheel's layout, and the installed package at work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Build from a copy of the sources, so that nothing left in the tree (build/, *.egg-info)
    # leaks into the wheel under test, and the tree is left as it was.
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    # .pi-test holds an arm64 root filesystem, device nodes and all: never copy it.
    ignore = (".venv*", ".git", ".pi-test", "build", "*.egg-info", "runs", "__pycache__", ".*cache")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*ignore))
    command = ["pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(folder), str(source)]
    subprocess.run([sys.executable, "-m", *command], check=True, capture_output=True)
    (built,) = folder.glob("edge_digits-*.whl")
    return built


def test_wheel_installs_three_sub_packages_and_the_default_model(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("edge_digits-")}
    assert tops == {"edge_digits"}  # no top-level `train`, `convert` or `runtime`
    # Every module of runtime/'s sub-packages is in the wheel (pyproject lists the packages).
    runtime = Path(__file__).resolve().parents[1] / "runtime"
    for module in runtime.rglob("*.py"):
        assert f"edge_digits/runtime/{module.relative_to(runtime).as_posix()}" in names
    for expected in (
        "edge_digits/runtime/core/classifier.py",
        "edge_digits/runtime/models/edge_int8.tflite",
        "edge_digits/runtime/models/edge_int8.json",
        "edge_digits/runtime/py.typed",
        "edge_digits/train/training.py",
        "edge_digits/convert/converter.py",
    ):
        assert expected in names
    assert not any(name.startswith("edge_digits/tests") for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "edge-digits = edge_digits.runtime.cli:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_installed_wheel_classifies_with_its_embedded_model(wheel, tmp_path, digit_pngs):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    script = (
        "import json, sys; from edge_digits.runtime import Classifier; c = Classifier(); "
        "print(json.dumps([str(c.model_path), c.classify_file(sys.argv[1]).label]))"
    )
    path, label = digit_pngs[0]
    # Run outside the source tree so that only the installed copy can be imported.
    completed = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {script}", str(path)],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    model_path, predicted = json.loads(completed.stdout.splitlines()[-1])
    assert model_path.startswith(str(target)) and predicted == label
