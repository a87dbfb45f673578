"""Models kept in tests/data/ for tests that need a real trained model of a given kind,
whatever model the runtime ships.

`TEN_CLASS_MODEL`: release 0.2.0's default model (full-integer int8, ten digits, softmax inside,
a version 1 sidecar beside it and none inside it): how every model converted before the
not-a-digit class looks, which must keep working exactly as it did."""

from __future__ import annotations

import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
TEN_CLASS_MODEL = DATA / "mnist10_int8.tflite"


def copy_ten_class_model(folder: Path, name: str = "copy", sidecar: bool = True) -> Path:
    """The ten-class model (and its sidecar) copied into `folder` as `name`.tflite."""
    target = folder / f"{name}.tflite"
    shutil.copyfile(TEN_CLASS_MODEL, target)
    if sidecar:
        shutil.copyfile(TEN_CLASS_MODEL.with_suffix(".json"), target.with_suffix(".json"))
    return target
