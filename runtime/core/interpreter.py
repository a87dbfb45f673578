"""The one module that imports a TFLite interpreter.

Order: ``ai_edge_litert`` (LiteRT, the renamed tflite-runtime; numpy 2; applies XNNPACK by
default), then ``tflite_runtime`` (2.14, the last release, still on many Pi images). The
environment variable ``EDGE_DIGITS_BACKEND`` or the ``backend`` argument forces one.
Never ``tf.lite.Interpreter``: it is deprecated and drags in TensorFlow.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from ..errors import MissingDependencyError, ModelError, UsageError, one_line
from ..native.dependencies import import_failure
from ..native.stderr import quiet_native_info
from .flatbuffer import check_tflite

BACKENDS: dict[str, str] = {
    "litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
}
ENV_VAR = "EDGE_DIGITS_BACKEND"
DISTRIBUTIONS: dict[str, str] = {  # backend -> the pip distribution that installs it
    "litert": "ai-edge-litert",
    "tflite-runtime": "tflite-runtime",
}
INSTALL_HINT = (
    "pip install ai-edge-litert (or, on older Raspberry Pi OS, pip install tflite-runtime)"
)


def _import(name: str) -> Any | None:
    """The backend's interpreter module; None when it is not installed. One that is installed
    but cannot be loaded (a missing shared library, a numpy it was not built for) raises
    MissingDependencyError (exit 5) naming it: silently taking another would hide that."""
    module = BACKENDS[name]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = error.name if isinstance(error, ModuleNotFoundError) else None
        if missing is not None and (module + ".").startswith(missing + "."):
            return None  # ai_edge_litert (or its .interpreter) is not there at all
        raise (import_failure(error) or error) from None


def resolve_backend(backend: str | None = None) -> tuple[str, Any]:
    """Return (backend name, interpreter module): the one asked for, else the first installed."""
    wanted = backend or os.environ.get(ENV_VAR) or None
    if wanted is not None:
        if wanted not in BACKENDS:
            allowed = ", ".join(BACKENDS)
            raise UsageError(f"unknown interpreter backend {wanted!r}; allowed: {allowed}")
        module = _import(wanted)
        if module is None:
            raise MissingDependencyError(
                f"interpreter backend {wanted!r} is not installed; {INSTALL_HINT}"
            )
        return wanted, module
    for name in BACKENDS:
        module = _import(name)
        if module is not None:
            return name, module
    raise MissingDependencyError(f"no TFLite interpreter is installed; {INSTALL_HINT}")


def available_backends() -> list[str]:
    """The backends installed here, in order of preference."""
    return [name for name in BACKENDS if _import(name) is not None]


def installed_version(distribution: str) -> str | None:
    """The installed version of a pip distribution (`numpy`, `ai-edge-litert`); None if absent."""
    from importlib import metadata  # here, not at the top: a cold `classify` never needs it

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def backend_version(backend: str) -> str | None:
    """The installed version of a backend (`litert` -> ai-edge-litert's); None if absent."""
    return installed_version(DISTRIBUTIONS.get(backend, backend))


def make_interpreter(
    model_content: bytes,
    *,
    origin: str,
    num_threads: int | None = None,
    backend: str | None = None,
    xnnpack: bool = True,
) -> tuple[Any, str]:
    """Build an interpreter for `model_content`; return it with the backend's name.

    `xnnpack=False` asks for the builtin kernels without default delegates (for benchmarks).
    A file that is not a sound TFLite flatbuffer raises ModelError naming `origin` before any
    interpreter sees it (tflite-runtime 2.14 would crash on a damaged one).
    """
    name, module = resolve_backend(backend)
    check_tflite(model_content, origin)
    kwargs: dict[str, Any] = {"model_content": model_content, "num_threads": num_threads}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = (
            module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    try:
        with quiet_native_info():
            interpreter = module.Interpreter(**kwargs)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        reason = one_line(error, 200)
        raise ModelError(
            f"{origin}: the {name} interpreter cannot load this model ({reason})"
        ) from None
    return interpreter, name
