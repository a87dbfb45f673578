"""`train.report.refresh_report`: after a conversion into a run folder, the caller (the CLI's
`convert`, `make default-model`) has train render `report.html` again with the parity table
the sidecars carry; convert itself never imports train (docs/ARCHITECTURE.md).

No TensorFlow needed: the run folder and the converted pair are written by hand."""

from __future__ import annotations

import json
from pathlib import Path

from edge_digits.runtime.core.sidecar import Sidecar
from edge_digits.train.report import refresh_report


def _converted(folder: Path, stem: str, tflite: float, agreement: float) -> None:
    (folder / f"{stem}.tflite").write_bytes(b"\0" * 2048)  # the report reads only its size
    sidecar = Sidecar(
        model_sha256="0" * 64,
        precision=stem.rpartition("_")[2],
        architecture="edge",
        input_shape=(-1, 28, 28, 1),
        input_dtype="int8",
        output_dtype="int8",
        accuracy={"tflite": tflite, "agreement_with_keras": agreement},
    )
    (folder / f"{stem}.json").write_text(sidecar.to_json())


def test_refresh_report_adds_the_parity_table_of_the_converted_models(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"architecture": "edge", "result": {}}))
    first = refresh_report(tmp_path)
    assert first == tmp_path / "report.html"
    assert "Not converted yet" in first.read_text()

    _converted(tmp_path, "model_int8", 0.9952, 0.9999)
    _converted(tmp_path, "model_float32", 0.9951, 1.0)
    page = refresh_report(tmp_path).read_text()
    assert "Not converted yet" not in page
    for cell in ("model_int8.tflite", "99.52%", "99.99%", "model_float32.tflite", "100.00%"):
        assert cell in page
    assert page.index("model_float32.tflite") < page.index("model_int8.tflite")  # sorted


def test_refresh_report_leaves_a_folder_that_is_not_a_run_alone(tmp_path):
    _converted(tmp_path, "model_int8", 0.99, 0.99)
    assert refresh_report(tmp_path) is None
    assert not (tmp_path / "report.html").exists()
