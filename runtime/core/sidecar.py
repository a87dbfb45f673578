"""The sidecar: `<model>.json` beside every `.tflite`, so the model travels with its preprocessing.

Written by `convert`, read by the runtime. A model without a sidecar loads with MNIST
defaults and a warning; a sidecar whose sha256 does not match its model is an error.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError, one_line
from ..files.atomic import atomic_write_text

SCHEMA_VERSION = 1
MNIST_LABELS: tuple[str, ...] = tuple(str(digit) for digit in range(10))
POLARITIES = ("light-on-dark",)  # the model's input convention (MNIST: bright ink on black)
CENTERINGS = ("mass",)


@dataclass(frozen=True)
class PreprocessSettings:
    """How images were turned into model input at training time; the runtime repeats it.

    Fields:
        size: side of the square model input, in pixels.
        box: the digit's longer side is fitted into a box of this many pixels (MNIST: 20).
        polarity: "light-on-dark": ink is bright, background black (MNIST's convention).
        centering: "mass": the digit's centre of mass is placed at the image centre (MNIST).
        scale: multiply uint8 pixel values by this to get the float input (1/255: [0, 1]).
    """

    size: int = 28
    box: int = 20
    polarity: str = "light-on-dark"
    centering: str = "mass"
    scale: float = 1.0 / 255.0

    def __post_init__(self) -> None:
        # Sidecars are files users can edit: refuse values the runtime cannot honour.
        def whole(value: object) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if not whole(self.size) or not 8 <= self.size <= 1024:
            raise ValueError(
                f"preprocessing.size must be a whole number of pixels, got {self.size!r}"
            )
        if not whole(self.box) or not 1 <= self.box <= self.size:
            raise ValueError(f"preprocessing.box must be 1 to size ({self.size}), got {self.box!r}")
        if self.polarity not in POLARITIES or self.centering not in CENTERINGS:
            raise ValueError(
                f"preprocessing polarity {self.polarity!r} / centering {self.centering!r} not "
                f"supported; allowed: {', '.join(POLARITIES)} / {', '.join(CENTERINGS)}"
            )
        if not isinstance(self.scale, (int, float)) or not 0 < self.scale <= 1:
            raise ValueError(f"preprocessing.scale must be in (0, 1], got {self.scale!r}")


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int


@dataclass(frozen=True)
class Sidecar:
    """Everything the runtime and a person need to know about one `.tflite` file."""

    model_sha256: str
    precision: str  # "float32", "float16" or "int8"
    architecture: str
    input_shape: tuple[int, ...]  # batch dimension is -1 (dynamic)
    input_dtype: str
    output_dtype: str
    input_quantization: Quantization | None = None
    output_quantization: Quantization | None = None
    labels: tuple[str, ...] = MNIST_LABELS
    preprocessing: PreprocessSettings = field(default_factory=PreprocessSettings)
    training_data_sha256: str = ""
    accuracy: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def from_json(cls, text: str, origin: str) -> Sidecar:
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("top level is not an object")
            version = data.get("schema_version")
            if version != SCHEMA_VERSION:
                raise ModelError(
                    f"{origin}: sidecar schema version {version!r} is not supported "
                    f"(this edge-digits reads version {SCHEMA_VERSION}); re-run `edge-digits convert`"
                )
            fields = dict(data)
            for key in ("input_quantization", "output_quantization"):
                fields[key] = Quantization(**data[key]) if data.get(key) else None
            fields["input_shape"] = tuple(data["input_shape"])
            fields["labels"] = tuple(str(label) for label in data.get("labels", MNIST_LABELS))
            fields["preprocessing"] = PreprocessSettings(**data.get("preprocessing", {}))
            return cls(**fields)
        except ModelError:
            raise
        except (ValueError, TypeError, KeyError) as error:
            reason = one_line(error)
            raise ModelError(
                f"{origin}: malformed sidecar ({reason}); fix it, delete it, or re-run `edge-digits convert`"
            ) from None

    @classmethod
    def read(cls, path: Path) -> Sidecar:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ModelError(f"{path}: cannot read sidecar ({error})") from None
        return cls.from_json(text, str(path))


def sidecar_path(model_path: Path) -> Path:
    """`model_int8.tflite` -> `model_int8.json`."""
    return model_path.with_suffix(".json")
