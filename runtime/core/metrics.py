"""What `edge-digits serve` and `camera --serve` show on `/metrics`, in Prometheus' text
format (prometheus-client, one registry per server: nothing global).

Both servers expose `edge_digits_model_info` (the model, its digest and precision, the
interpreter and the package's version, as labels of a constant 1) beside their own counters
and histograms (`serve`: requests, errors, latency; the camera: frames, readings,
processing time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Info,
    disable_created_metrics,
    generate_latest,
)

from .interpreter import backend_version, installed_version

if TYPE_CHECKING:
    from .classifier import Classifier

CONTENT_TYPE = CONTENT_TYPE_LATEST
NAMESPACE = "edge_digits"
# Latency buckets (seconds) for one request or one frame: a digit takes about a millisecond,
# a large photo read as a number a few hundred.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


def model_info(classifier: Classifier) -> dict[str, str]:
    """The model a server answers with, as the labels of `edge_digits_model_info`."""
    sidecar = classifier.sidecar
    return {
        "model": classifier.model_path.name,
        "sha256": sidecar.model_sha256 if sidecar is not None else "",
        "precision": sidecar.precision if sidecar is not None else "",
        "classes": str(classifier.classes),
        "backend": classifier.backend,
        "backend_version": backend_version(classifier.backend) or "",
        "version": installed_version("edge-digits") or "",
    }


def new_registry(classifier: Classifier) -> CollectorRegistry:
    """A registry holding `edge_digits_model_info` for `classifier`."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series: noise for counters that start with us
    registry = CollectorRegistry(auto_describe=True)
    info = Info("model", "The model and interpreter answering.", namespace=NAMESPACE,
                registry=registry)  # fmt: skip
    info.info(model_info(classifier))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in Prometheus' text format (CONTENT_TYPE)."""
    return generate_latest(registry)
