"""A native package that will not load (numpy, OpenCV, Pillow, the interpreter) is one line
naming it and the fix, exit 5, never a traceback.

Here each package is hidden behind a stand-in on PYTHONPATH that fails to import the way the
real one does; `make pi-test` hides real shared libraries inside the emulated Pi.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from edge_digits.runtime.errors import MissingDependencyError
from edge_digits.runtime.native.dependencies import failed_package, import_failure
from PIL import Image

LIBXCB = "libxcb.so.1: cannot open shared object file: No such file or directory"
NUMPY_ADVICE = (
    "\\n\\nIMPORTANT: PLEASE READ THIS FOR ADVICE ON HOW TO SOLVE THIS ISSUE!\\n\\n"
    "Importing the numpy C-extensions failed. This error can happen for many reasons.\\n\\n"
    "Original error was: libscipy_openblas64_-ff651d7f.so: cannot open shared object file: "
    "No such file or directory\\n"
)


def _stand_in(folder: Path, package: str, raise_line: str) -> None:
    """A package `package` in `folder` whose import fails, two frames deep like the real ones."""
    root = folder / package
    (root / "core").mkdir(parents=True)
    (root / "__init__.py").write_text("from . import core\n")
    (root / "core" / "__init__.py").write_text(f"{raise_line}\n")


def _classify(tmp_path: Path, stand_ins: Path) -> subprocess.CompletedProcess[str]:
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(image)
    environment = {**os.environ, "PYTHONPATH": str(stand_ins)}
    environment.pop("EDGE_DIGITS_BACKEND", None)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from edge_digits.runtime.cli import main; main()",
            "classify",
            str(image),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


# Not marked pi: stand-ins in subprocesses; pi-test hides the real libraries on the emulated Pi
@pytest.mark.parametrize(
    ("package", "raise_line", "expected"),
    [
        (
            "cv2",
            f"raise ImportError({LIBXCB!r})",
            "error: OpenCV (cv2) is installed but cannot be loaded (libxcb.so.1: cannot open "
            "shared object file); reinstall it in this environment: "
            "pip install --force-reinstall opencv-python-headless",
        ),
        (
            "cv2",
            "raise ModuleNotFoundError(\"No module named 'cv2'\", name='cv2')",
            "error: OpenCV (cv2) is not installed; run: pip install opencv-python-headless",
        ),
        (
            "numpy",
            f'raise ImportError("{NUMPY_ADVICE}")',
            "error: numpy is installed but cannot be loaded (libscipy_openblas64_-ff651d7f.so: "
            "cannot open shared object file); reinstall it in this environment: "
            "pip install --force-reinstall numpy",
        ),
        (
            "PIL",
            "raise ImportError('libjpeg-1b2ee6a9.so.62.4.0: cannot open shared object file')",
            "error: Pillow (PIL) is installed but cannot be loaded (libjpeg-1b2ee6a9.so.62.4.0: "
            "cannot open shared object file); reinstall it in this environment: "
            "pip install --force-reinstall pillow",
        ),
        (
            "ai_edge_litert",
            "raise ImportError('libpywrap_litert_common.so: cannot open shared object file')",
            "error: the LiteRT interpreter (ai_edge_litert) is installed but cannot be loaded "
            "(libpywrap_litert_common.so: cannot open shared object file); reinstall it in this "
            "environment: pip install --force-reinstall ai-edge-litert",
        ),
    ],
    ids=["opencv-libxcb", "opencv-missing", "numpy-openblas", "pillow-libjpeg", "litert-library"],
)
def test_a_native_package_that_will_not_load_is_one_line_and_exit_5(
    tmp_path: Path, package: str, raise_line: str, expected: str
) -> None:
    _stand_in(tmp_path / "stand-ins", package, raise_line)
    result = _classify(tmp_path, tmp_path / "stand-ins")
    assert (result.returncode, result.stderr.splitlines(), result.stdout) == (5, [expected], "")


# Not marked pi: as above
def test_no_interpreter_installed_is_one_line_and_exit_5(tmp_path: Path) -> None:
    for package in ("ai_edge_litert", "tflite_runtime"):
        missing = f"raise ModuleNotFoundError(\"No module named '{package}'\", name='{package}')"
        _stand_in(tmp_path / "stand-ins", package, missing)
    result = _classify(tmp_path, tmp_path / "stand-ins")
    assert (result.returncode, result.stderr.splitlines()) == (
        5,
        [
            "error: no TFLite interpreter is installed; pip install ai-edge-litert "
            "(or, on older Raspberry Pi OS, pip install tflite-runtime)"
        ],
    )


def _raised_in(module_name: str, error: ImportError) -> ImportError:
    """`error` as raised by code whose module is `module_name`."""
    namespace = {"__name__": module_name, "error": error}
    try:
        exec("raise error", namespace)
    except ImportError as raised:
        return raised
    raise AssertionError("not raised")


@pytest.mark.pi
def test_the_deepest_native_package_in_the_traceback_is_named() -> None:
    def from_opencv() -> None:
        raise _raised_in("numpy.core.multiarray", ImportError("numpy.core.multiarray failed"))

    try:
        exec("from_opencv()", {"__name__": "cv2", "from_opencv": from_opencv})
    except ImportError as error:
        assert failed_package(error) == "numpy"


@pytest.mark.pi
def test_an_import_error_of_our_own_is_not_disguised() -> None:
    error = _raised_in("edge_digits.runtime.core.photo", ImportError("cannot import name 'x'"))
    assert failed_package(error) is None
    assert import_failure(error) is None


@pytest.mark.pi
def test_a_missing_dependency_of_litert_names_litert() -> None:
    error = _raised_in(
        "ai_edge_litert.interpreter",
        ModuleNotFoundError("No module named 'ml_dtypes'", name="ml_dtypes"),
    )
    failure = import_failure(error)
    assert isinstance(failure, MissingDependencyError)
    assert str(failure) == (
        "the LiteRT interpreter (ai_edge_litert) is installed but cannot be loaded (No module "
        "named 'ml_dtypes'); reinstall it in this environment: "
        "pip install --force-reinstall ai-edge-litert"
    )
