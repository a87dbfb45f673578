"""What to tell a user when a native package (numpy, OpenCV, Pillow, the interpreter) will
not load.

Such failures come from the system, not from the input: a wheel built for a desktop on a
machine without X11 (`opencv-python` on Raspberry Pi OS Lite: "libxcb.so.1: cannot open
shared object file"), a shared library deleted or built for another CPU, a numpy 2 beside
extensions built for numpy 1. Python reports them as an ImportError with a traceback of
the package's internals; the user needs one line: which package, why, and the command
that fixes it.
"""

from __future__ import annotations

import re

from ..errors import MissingDependencyError, one_line

# Top-level module -> (what a user calls it, the pip distribution that installs it).
NATIVE_PACKAGES: dict[str, tuple[str, str]] = {
    "numpy": ("numpy", "numpy"),
    "cv2": ("OpenCV (cv2)", "opencv-python-headless"),
    "PIL": ("Pillow (PIL)", "pillow"),
    "ai_edge_litert": ("the LiteRT interpreter (ai_edge_litert)", "ai-edge-litert"),
    "tflite_runtime": ("the tflite-runtime interpreter (tflite_runtime)", "tflite-runtime"),
}
GUI_OPENCV = "opencv-python"
GUI_OPENCV_HINT = (
    "pip uninstall -y opencv-python-headless && pip install opencv-python "
    "(and a desktop: Raspberry Pi OS with desktop has its X11 libraries)"
)
HEADLESS_OPENCV_HINT = "pip uninstall -y opencv-python && pip install opencv-python-headless"
# The README's Pi recipe: keep the system's numpy 1.x in a --system-site-packages venv.
KEEP_SYSTEM_NUMPY_HINT = (
    "pip uninstall -y numpy opencv-python-headless, then "
    "pip install -c edge-digits/pi/constraints-bookworm.txt ./edge-digits "
    "(README: On a Raspberry Pi)"
)

# The line that says why, inside the long messages some packages wrap it in (numpy prints
# a page of advice ending in "Original error was: ...").
_SHARED_OBJECT = re.compile(r"[\w.+-]+\.so[\w.]*: cannot open shared object file")
_ORIGINAL = re.compile(r"Original error was: (.+)")
# How an extension built for numpy 1.x fails under numpy 2 (and the other way round).
_NUMPY_ABI = re.compile(
    r"numpy\.dtype size changed|compiled using NumPy 1\.x cannot be run|_ARRAY_API not found"
    r"|numpy\.core\.multiarray failed to import|module compiled against ABI version"
)


def failed_package(error: ImportError) -> str | None:
    """The native package an ImportError came from (a key of NATIVE_PACKAGES), or None.

    The deepest frame that belongs to one of them decides, so numpy failing inside OpenCV's
    import names numpy; a module that is simply missing is named by `error.name`.
    """
    modules: list[str] = []
    traceback = error.__traceback__
    while traceback is not None:
        modules.append(str(traceback.tb_frame.f_globals.get("__name__", "")))
        traceback = traceback.tb_next
    if error.name:
        modules.append(error.name)
    for module in reversed(modules):
        top = module.split(".")[0]
        if top in NATIVE_PACKAGES:
            return top
    return None


def _reason(error: ImportError) -> str:
    text = str(error)
    shared_object = _SHARED_OBJECT.search(text)
    if shared_object:
        return shared_object.group(0)
    original = _ORIGINAL.search(text)
    return one_line(ValueError(original.group(1) if original else text), 160)


def _installed(distribution: str) -> bool:
    from importlib import metadata  # here: ~50 ms a cold `classify` never needs

    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def import_failure(error: ImportError) -> MissingDependencyError | None:
    """The one-line error (exit 5) for an ImportError of a native package; None when the
    error came from elsewhere (a bug of ours, which should not be disguised)."""
    package = failed_package(error)
    if package is None:
        return None
    what, distribution = NATIVE_PACKAGES[package]
    if isinstance(error, ModuleNotFoundError) and error.name == package:
        return MissingDependencyError(f"{what} is not installed; run: pip install {distribution}")
    reason = _reason(error)
    if package == "cv2" and _installed(GUI_OPENCV) and "cannot open shared object" in reason:
        # The desktop build on a system without X11 (Raspberry Pi OS Lite, a server).
        return MissingDependencyError(
            f"{what} cannot be loaded ({reason}): the opencv-python build needs a desktop's "
            f"libraries; use the headless build: {HEADLESS_OPENCV_HINT}"
        )
    return MissingDependencyError(
        f"{what} is installed but cannot be loaded ({reason}); reinstall it in this "
        f"environment: pip install --force-reinstall {distribution}"
    )


def system_module_failure(what: str, error: Exception, hint: str) -> MissingDependencyError:
    """The one-line error for a module of the system's (Picamera2, from apt) that does not load
    in this venv. The usual cause on Raspberry Pi OS: a numpy 2 in the venv, in front of the
    system's numpy 1.x that the module's compiled parts (simplejpeg) were built against."""
    reason = _reason(error) if isinstance(error, ImportError) else one_line(error, 160)
    if _NUMPY_ABI.search(str(error)):
        import numpy  # loaded already: the failing module imported it

        return MissingDependencyError(
            f"{what} cannot be loaded ({reason}): it was built for the system's numpy 1.x, and "
            f"this venv has numpy {numpy.__version__}; keep the system's numpy: "
            f"{KEEP_SYSTEM_NUMPY_HINT}"
        )
    return MissingDependencyError(f"{what} cannot be loaded ({reason}); {hint}")
