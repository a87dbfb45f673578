"""`describe_model`: what `edge-digits info` shows about a `.tflite` file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .classifier import Classifier, ClassifierOptions


def _tensor(details: dict[str, Any]) -> dict[str, Any]:
    scale, zero_point = details["quantization"]
    return {
        "name": details["name"],
        "shape": [int(d) for d in details.get("shape_signature", details["shape"])],
        "dtype": np.dtype(details["dtype"]).name,
        "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None,
    }


def describe_model(model: Path | None = None) -> dict[str, Any]:
    """Inputs, outputs, quantisation, size, backend and sidecar of a model, as plain data:
    also `classes` (10, or 11 with a not-a-digit class) and, from a sidecar of schema
    version 2, how the runtime reads the output: `none_label`, `output_values` (the
    sidecar's `output`: "probabilities" or "logits"), `temperature` and `min_score`."""
    classifier = Classifier(ClassifierOptions(model=model))
    sidecar = json.loads(json.dumps(classifier.sidecar.as_dict())) if classifier.sidecar else None
    description: dict[str, Any] = {
        "path": str(classifier.model_path),
        "size_bytes": classifier.model_path.stat().st_size,
        "backend": classifier.backend,
        "input": _tensor(classifier.input_details),
        "output": _tensor(classifier.output_details),
        "classes": classifier.classes,
    }
    if classifier.sidecar is not None and classifier.sidecar.schema_version >= 2:
        description.update(
            none_label=classifier.sidecar.none_label,
            output_values=classifier.sidecar.output,
            temperature=classifier.sidecar.temperature,
            min_score=classifier.sidecar.min_score,
        )
    description["sidecar"] = sidecar
    return description
