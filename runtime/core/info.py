"""`describe_model`: what `edge-digits info` shows about a `.tflite` file."""

from __future__ import annotations

import json
from dataclasses import asdict
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
    """Inputs, outputs, quantisation, size, backend and sidecar of a model, as plain data."""
    classifier = Classifier(ClassifierOptions(model=model))
    sidecar = json.loads(json.dumps(asdict(classifier.sidecar))) if classifier.sidecar else None
    return {
        "path": str(classifier.model_path),
        "size_bytes": classifier.model_path.stat().st_size,
        "backend": classifier.backend,
        "input": _tensor(classifier.input_details),
        "output": _tensor(classifier.output_details),
        "sidecar": sidecar,
    }
