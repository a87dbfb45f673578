"""`report.html`: one self-contained page that shows a run (pictures embedded, no assets).

Sections: data, architecture, training curves, test accuracy, conversion (the parity table
of every converted model beside it, read from their sidecars), confusion matrix, mistakes,
predictions, samples. `train` writes it; after a conversion into the run folder, the caller
(the CLI's `convert` command, `make default-model`) calls `refresh_report` to add the table:
convert itself never imports train.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from edge_digits.runtime.core.sidecar import Sidecar
from edge_digits.runtime.errors import ModelError
from edge_digits.runtime.files.atomic import atomic_write_text, folder_lock, is_temporary

PICTURES = (
    ("curves", "Training curves"),
    ("confusion", "Confusion matrix"),
    ("mistakes", "Most confident mistakes"),
    ("predictions", "Test predictions"),
    ("samples", "Training images"),
)
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
.figure { font-size: 1.6em; font-weight: bold; }
"""


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _conversions(folder: Path) -> str:
    rows = []
    # Under the folder's lock: a `convert` publishing a pair meanwhile would otherwise remove
    # a model between our look at its sidecar and at its size.
    with folder_lock(folder):
        for sidecar_file in sorted(folder.glob("*.json")):
            model = sidecar_file.with_suffix(".tflite")
            if is_temporary(sidecar_file) or not model.exists():
                continue  # a temporary pair is another (or a killed) writer's unfinished work
            try:
                sidecar = Sidecar.read(sidecar_file)
            except ModelError:  # a foreign or broken json beside it is simply not a row
                continue
            accuracy, calibration = sidecar.accuracy, sidecar.calibration
            ece = (
                f"{calibration['ece_before']:.2%} → {calibration['ece_after']:.2%}"
                if {"ece_before", "ece_after"} <= set(calibration)
                else "-"
            )
            rows.append(
                [
                    sidecar.precision,
                    model.name,
                    f"{model.stat().st_size / 1024:.1f} KiB",
                    f"{accuracy.get('tflite', float('nan')):.2%}",
                    f"{accuracy.get('agreement_with_keras', float('nan')):.2%}",
                    ece,
                    f"{sidecar.temperature:.3f}",
                    f"{sidecar.min_score:.2f}" if sidecar.none_label else "-",
                ]
            )
    if not rows:
        return "<p>Not converted yet: <code>edge-digits convert --model model.keras --precision int8</code>.</p>"
    header = ["precision", "file", "size", "test accuracy", "agreement with Keras"]
    header += ["ECE (15 bins) before → after", "temperature", "min score"]
    return _table(header, rows)


def _not_a_digit(folder: Path) -> str:
    """The trade-off of the int8 model with a "none" class on the run's validation inputs:
    digits accepted against non-digits refused as the threshold moves, the operating point,
    and examples of what it refused (`plots.tradeoff_pictures`)."""
    from .plots import tradeoff_pictures

    drawn = tradeoff_pictures(folder)
    if drawn is None:
        return "<p>No model with a not-a-digit class in this folder.</p>"
    curve, examples, point = drawn
    text = (
        f"<p>At the operating point (min score {point['min_score']:.2f}, in the sidecar): "
        f"{point['digits_right']:.2%} of validation digits accepted and right, "
        f"{point['non_digits_refused']:.2%} of validation non-digits refused.</p>"
    )
    return (
        text
        + _image(curve, "trade-off curve")
        + _image(examples, "refused and accepted non-digits")
    )


def _user_data(user: dict[str, Any]) -> str:
    """`train --data`: each folder, and accuracy before (the --from model) and after on the
    held-out images, next to MNIST test."""

    def percent(value: Any) -> str:
        return "-" if value is None else f"{float(value):.2%}"

    folders = [
        [
            html.escape(str(f.get("folder"))),
            str(f.get("images")),
            f"{f.get('train')} / {f.get('validation')} / {f.get('held_out')}",
            html.escape(str(f.get("sha256", ""))[:16]),
        ]
        for f in user.get("folders", [])
    ]
    held, test = user.get("held_out_accuracy", {}), user.get("test_accuracy", {})
    scores = [
        [f"your held-out images ({user.get('held_out', 0)})", percent(held.get("before")),
         percent(held.get("after"))],
        ["MNIST test", percent(test.get("before")), percent(test.get("after"))],
    ]  # fmt: skip
    return (
        _table(["folder", "images", "train / validation / held out", "sha256"], folders)
        + f"<p>Share of each batch: {float(user.get('data_weight', 0)):.0%}.</p>"
        + _table(["accuracy", "before (--from)", "after"], scores)
    )


def write_report(folder: Path, summary: str = "") -> Path:
    """Write `folder/report.html` from what the run folder holds (run.json, pictures, models)."""
    run: dict[str, Any] = json.loads((folder / "run.json").read_text())
    result, config = run.get("result", {}), run.get("config", {})
    data_rows = [
        ["architecture", f"{run.get('architecture', '?')}: {run.get('architecture_summary', '')}"],
        ["training images", str(run.get("training_images", "?"))],
        ["validation split", str(config.get("val_split", "?"))],
        ["augmentation", "yes" if config.get("augment") else "no"],
        ["training data sha256", str(run.get("training_data_sha256", "?"))],
        ["epochs run (best)", f"{result.get('epochs_run', '?')} ({result.get('best_epoch', '?')})"],
        ["parameters", f"{result.get('parameters', 0):,}"],
    ]
    parts = [
        f"<h1>edge-digits run: {html.escape(folder.name)}</h1>",
        f'<p class="figure">test accuracy {float(result.get("test_accuracy", 0)):.2%}'
        f" (Keras, {html.escape(str(run.get('test_images', 10000)))} MNIST test images)</p>",
        "<h2 id='data'>Data and training</h2>",
        _table(["", ""], data_rows),
        "<h2 id='architecture'>Architecture</h2>",
        f"<pre>{html.escape(summary or run.get('model_summary', ''))}</pre>",
        "<h2 id='conversion'>Conversion</h2>",
        _conversions(folder),
    ]
    if run.get("user_data"):
        parts += ["<h2 id='your-data'>Your data</h2>", _user_data(run["user_data"])]
    if run.get("none_label"):
        parts += ["<h2 id='not-a-digit'>Not a digit</h2>", _not_a_digit(folder)]
    for name, title in PICTURES:
        picture = folder / f"{name}.png"
        parts.append(f"<h2 id='{name}'>{title}</h2>")
        parts.append(_image(picture, title) if picture.exists() else "<p>(not drawn)</p>")
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>edge-digits run {html.escape(folder.name)}</title><style>{STYLE}</style></head>"
        "<body>" + "\n".join(parts) + "</body></html>\n"
    )
    path = folder / "report.html"
    atomic_write_text(path, page)
    return path


def refresh_report(folder: Path) -> Path | None:
    """After `convert` wrote models into `folder`: write its `report.html` again, now with
    the parity table that the sidecars carry. None (and nothing written) when `folder` is
    not a run folder of `train` (no run.json)."""
    if not (Path(folder) / "run.json").exists():
        return None
    return write_report(Path(folder))
