"""`train --from MODEL` and `--from default`: the model a fine-tuning run starts from.

`--from default` is the shipped default model's own Keras source, kept with the train part
(``train/default/model.keras``, package data of `edge_digits.train`, never of the runtime) so
that fine-tuning needs no rebuild. Where it is not kept, the model `make default-model`
writes (``runs/default/model.keras``, from the current folder) is used, with a note when it
is not the source of the model the runtime ships (their sha256 differ).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keras
from edge_digits.runtime.core.classifier import default_model_path
from edge_digits.runtime.core.sidecar import sidecar_path
from edge_digits.runtime.errors import ModelError, UsageError
from edge_digits.runtime.files.atomic import sha256_file

DEFAULT = "default"
KEPT_DEFAULT = Path(__file__).parent / "default" / "model.keras"
BUILT_DEFAULT = Path("runs/default/model.keras")  # default_model.RECIPE.out / model.keras


def shipped_source_sha256() -> str | None:
    """The sha256 of the Keras model the shipped `.tflite` was converted from (its sidecar)."""
    try:
        sidecar = json.loads(sidecar_path(default_model_path()).read_text())
        return str(sidecar["provenance"]["keras_model_sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def resolve_base(base: Path, echo: Callable[[str], None]) -> Path:
    """`--from`'s value as a file: a path, or the default model's Keras source."""
    if str(base) != DEFAULT:
        return base
    for candidate in (KEPT_DEFAULT, BUILT_DEFAULT):
        if candidate.is_file():
            if sha256_file(candidate) != shipped_source_sha256():
                echo(
                    f"note: {candidate} is not the source of the shipped default model (sha256 "
                    "differs from its sidecar's); fine-tuning from it"
                )
            return candidate
    raise UsageError(
        f"--from default: the default model's Keras source is not kept here ({KEPT_DEFAULT}); "
        f"build it with `make default-model` (writes {BUILT_DEFAULT}) or give --from MODEL"
    )


def load_base(base: Path, negatives: int, echo: Callable[[str], None]) -> tuple[keras.Model, Path]:
    """The trained Keras model to start from, and its file; one line when it cannot be used."""
    path = resolve_base(base, echo)
    try:
        model = keras.models.load_model(path)
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())[:160]
        raise ModelError(
            f"{path}: cannot load Keras model ({reason}); give a .keras file from `edge-digits train`"
        ) from None
    classes = int(model.output_shape[-1])
    if classes not in (10, 11) or tuple(model.input_shape[1:3]) != (28, 28):
        raise ModelError(f"{path}: not a digit model (28x28 inputs, 10 or 11 scores)")
    if negatives and classes == 10:
        raise UsageError(
            f"--negatives: {path} has no not-a-digit class to train them on; "
            "drop --negatives or start from an 11-class model"
        )
    echo(f"starting from {path} ({classes} classes)")
    return model, path


REHEARSAL_SHARE = 4  # `--from` an 11-class model: one generated non-digit per 4 MNIST images
REHEARSAL_RANGE = (500, 6000)


def rehearsal(training_images: int) -> int:
    """How many generated non-digits a fine-tuning run of an 11-class model adds when
    --negatives is not given (the not-a-digit class fades without them)."""
    low, high = REHEARSAL_RANGE
    return max(low, min(high, training_images // REHEARSAL_SHARE))
