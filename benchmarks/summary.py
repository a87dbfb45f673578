"""Turn the suite's result files into benchmarks/RESULTS.md and a plot.

Reads parity.json, versus.json, end_to_end.json and cold_start.json from a results folder
(any of them may be missing) and writes

- ``RESULTS.md``: the headline ratios (ours ÷ theirs, measured in one run) with the issue's
  targets, then the parity, versus, folder, camera and cold-start tables, the machine, the
  versions, the commit and the command behind each figure;
- ``accuracy_vs_latency.png`` in the results folder: accuracy against batch-1 p50 latency,
  one labelled point per model and format, marker area proportional to file size.

    .venv/bin/python benchmarks/summary.py [--results benchmarks/results] [--out benchmarks/RESULTS.md]

Needs matplotlib (the `train` extra); no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PLOT_NAME = "accuracy_vs_latency.png"
PARTS = ("parity", "versus", "end_to_end", "cold_start")
FORMAT_COLOURS = {
    "keras": "#d62728",
    "tflite float32": "#1f77b4",
    "tflite float16": "#2ca02c",
    "tflite int8": "#ff7f0e",
    "onnx float32": "#9467bd",
}

Record = dict[str, Any]


def load_results(folder: Path) -> dict[str, Record]:
    """Each part's record, by name; parts without a file are left out."""
    found = {}
    for name in PARTS:
        path = folder / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


# -- formatting ------------------------------------------------------------------------------


def _us(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:,.2f} ms"
    return f"{value:,.1f} us"


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size / 1024:,.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:,.1f} MiB"


def _ratio(ours_over_theirs: float) -> str:
    """0.02 -> "0.020 (50x faster)"; 1.6 -> "1.60 (1.6x slower)"."""
    if ours_over_theirs <= 0:
        return "-"
    if ours_over_theirs < 1:
        return f"{ours_over_theirs:.3g} ({1 / ours_over_theirs:,.1f}x faster)"
    return f"{ours_over_theirs:.3g} ({ours_over_theirs:,.2f}x slower)"


def _met(flag: bool | None) -> str:
    return "-" if flag is None else ("**yes**" if flag else "**no**")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


# -- sections --------------------------------------------------------------------------------


def _about(results: dict[str, Record]) -> list[str]:
    any_record = next(iter(results.values()))
    machine, versions = any_record["machine"], any_record["versions"]
    names = ("python", "tensorflow", "keras", "litert", "onnxruntime", "numpy", "pillow")
    shown = ", ".join(f"{name} {versions[name]}" for name in names if versions.get(name))
    commits = sorted(
        {
            r["git_commit"][:12] + ("+dirty" if r["git_commit"].endswith("+dirty") else "")
            for r in results.values()
        }
    )
    quick = any(r.get("quick") for r in results.values())
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']} "
        f"(load average {machine['load_average_1min']} at the start: a shared machine).",
        f"Versions: {shown}.",
        f"Commit: {', '.join(commits)}; measured {any_record['when']}.",
    ]
    if quick:
        lines.append(
            "**A `--quick` smoke run: fewer images and timing runs; not figures to quote.**"
        )
    return [*lines, ""]


def _headline(results: dict[str, Record], plot_link: str | None) -> list[str]:
    rows: list[list[str]] = []
    versus = results.get("versus")
    if versus:
        p50 = {r["contender"]: r["p50_us"] for r in versus["rows"]}
        ours = versus["ours"]
        for name, ratio in versus["ratios"].items():
            if "edge-digits" in name:
                continue
            target, met = ("", None)
            if name == "LiteRT by hand (int8)":
                target, met = "<= 1.5", versus["targets"]["classifier_overhead_at_most_1.5"]
            rows.append(
                [f"batch-1 p50: {ours} vs {name}", _us(p50[ours]), _us(p50[name]),
                 _ratio(ratio["ours_over_theirs"]), target, _met(met)]
            )  # fmt: skip
    e2e = results.get("end_to_end")
    if e2e:
        folder = e2e["folder"]
        loop = folder["keras_loop"]["images_per_s"]
        for key, label, target in (
            ("edge_digits", "classify_paths", True),
            ("edge_digits_cli_json", "`edge-digits classify --json`", False),
        ):
            rate = folder[key]["images_per_s"]
            rows.append(
                [f"folder of {folder['files']:,} PNGs, images/s: {label} vs Keras per-file loop",
                 f"{rate:,.0f}/s", f"{loop:,.1f}/s", f"{rate / loop:,.0f}x the throughput",
                 ">= 20x, >= 5,000/s" if target else ">= 5,000/s",
                 _met(rate / loop >= 20 and rate >= 5000) if target else _met(rate >= 5000)]
            )  # fmt: skip
        batched = folder["keras_batched"]["images_per_s"]
        rate = folder["edge_digits"]["images_per_s"]
        rows.append(
            ["folder, images/s: classify_paths vs Keras decode-all + batched predict",
             f"{rate:,.0f}/s", f"{batched:,.0f}/s", f"{rate / batched:,.1f}x the throughput", "", "-"]
        )  # fmt: skip
    cold = results.get("cold_start")
    if cold:
        summary = cold["summary"]  # as cold_start.py names its commands
        ours = summary["edge-digits classify"]
        theirs = next(row for name, row in summary.items() if name.startswith("seeds' way"))
        wall = ours["wall_s_median"] / theirs["wall_s_median"]
        memory = ours["peak_rss_mib_median"] / theirs["peak_rss_mib_median"]
        rows.append(
            ["cold `classify img.png`, wall: edge-digits vs TensorFlow + Keras",
             f"{ours['wall_s_median']:.2f} s", f"{theirs['wall_s_median']:.2f} s", _ratio(wall),
             ">= 15x faster", _met(cold["ratios"]["wall_speedup"] >= 15)]
        )  # fmt: skip
        rows.append(
            ["cold `classify img.png`, peak RSS", f"{ours['peak_rss_mib_median']:.0f} MiB",
             f"{theirs['peak_rss_mib_median']:.0f} MiB", f"{memory:.3g} ({1 / memory:.1f}x less)",
             ">= 8x less", _met(cold["ratios"]["memory_ratio"] >= 8)]
        )  # fmt: skip
    if cold and "bare_imports" in cold:
        ours, bare = cold["summary"]["edge-digits classify"], cold["bare_imports"]
        wall = cold["ratios"]["wall_vs_bare_imports"]
        memory = cold["ratios"]["peak_rss_vs_bare_imports"]
        rows.append(
            ["cold `classify img.png`, wall: edge-digits vs the bare imports",
             f"{ours['wall_s_median']:.2f} s", f"{bare['wall_s_median']:.2f} s", f"{wall:.2f}",
             "<= 1.3", _met(wall <= 1.3)]
        )  # fmt: skip
        rows.append(
            ["cold `classify img.png`, peak RSS: edge-digits vs the bare imports",
             f"{ours['peak_rss_mib_median']:.0f} MiB", f"{bare['peak_rss_mib_median']:.0f} MiB",
             f"{memory:.2f}", "<= 1.2", _met(memory <= 1.2)]
        )  # fmt: skip
    parity = results.get("parity")
    if parity:
        rows_by = {(r["model"], r["format"]): r for r in parity["rows"]}
        keras, int8 = rows_by[("default", "keras")], rows_by[("default", "tflite int8")]
        drop = parity["targets"]["int8_accuracy_drop_pp"]
        rows.append(
            ["default model int8 vs Keras: accuracy", _pct(int8["accuracy"]),
             _pct(keras["accuracy"]), f"{0.0 - drop:+.2f} pp", "within 0.1 pp",
             _met(parity["targets"]["int8_accuracy_within_0.1pp"])]
        )  # fmt: skip
        rows.append(
            ["default model int8 vs Keras: top-1 agreement", _pct(int8["agreement_with_keras"]),
             "-", "-", ">= 99.8%", _met(parity["targets"]["int8_agreement_at_least_99.8"])]
        )  # fmt: skip
    if not rows:
        return []
    return [
        "## Headline: ours ÷ theirs, measured in one run",
        "",
        "Absolute times drift on a shared machine; contenders measured together, in "
        "alternating rounds, keep their ratios. Below 1 means edge-digits takes less time.",
        "",
        *_table(["comparison", "ours", "theirs", "ours ÷ theirs", "target", "met"], rows),
        *([f"![accuracy vs latency]({plot_link})", ""] if plot_link else []),
    ]


def _parity(record: Record) -> list[str]:
    rows = [
        [r["model"] + (" (shipped)" if r.get("shipped") else ""), r["format"], _pct(r["accuracy"]),
         "-" if r["format"] == "keras" else _pct(r["agreement_with_keras"]),
         "-" if r["format"] == "keras" else f"{r['max_abs_prob_diff']:.2g}",
         "-" if r["format"] == "keras" else f"{r['mean_abs_prob_diff']:.2g}",
         _size(r["size_bytes"]), _us(r["p50_us"])]
        for r in record["rows"]
    ]  # fmt: skip
    images = record["rows"][0]["test_images"] if record["rows"] else 0
    epochs = sorted({r["epochs"] for r in record["rows"] if r.get("epochs")})
    return [
        "## Parity: Keras vs TFLite float32, float16, int8",
        "",
        f"Every model scored by `edge_digits.runtime.core.evaluate.evaluate` on {images:,} MNIST test "
        f"images; abs Δp: the absolute difference of the ten probabilities against Keras. "
        f"Seed models trained {'/'.join(map(str, epochs)) or '?'} epoch(s) into runs/bench/; "
        f"the default model is the shipped one's Keras source. {record['latency_note']}.",
        "",
        *_table(
            [
                "model",
                "format",
                "accuracy",
                "agreement with Keras",
                "max abs Δp",
                "mean abs Δp",
                "size",
                "p50 batch-1",
            ],
            rows,
        ),
        f"Reproduce: `{record['command']}`",
        "",
    ]


def _versus(record: Record) -> list[str]:
    ratios = record["ratios"]
    rows = [
        [r["contender"], _us(r["p50_us"]), _us(r["latency"]["p90_us"]), _us(r["latency"]["p99_us"]),
         "1" if r["contender"] == record["ours"] else _ratio(ratios[r["contender"]]["ours_over_theirs"]),
         _pct(r["accuracy"]), _pct(r["agreement_with_keras"]), _size(r["size_bytes"])]
        for r in record["rows"]
    ]  # fmt: skip
    return [
        "## Against what users would pick instead (default model)",
        "",
        f"Batch-1 latency of the same test digit on {record['threads']} thread(s), alternating "
        f"rounds; accuracy on {record['test_images']:,} test images by the same `evaluate` "
        "(-: not scored again, the same file as another row). Ratio: edge-digits int8 ÷ contender.",
        "",
        *_table(
            ["contender", "p50", "p90", "p99", "ours ÷ theirs", "accuracy", "agreement", "size"],
            rows,
        ),
        f"Reproduce: `{record['command']}`",
        "",
    ]


def _end_to_end(record: Record) -> list[str]:
    folder = record["folder"]
    names = {
        "edge_digits": "edge-digits `classify_paths` (warm process)",
        "edge_digits_cli_json": "`edge-digits classify --json FOLDER` (start-up included)",
        "edge_digits_cli_text": "`edge-digits classify FOLDER` (start-up included)",
        "keras_loop": "Keras: PIL open + `model.predict` per file",
        "keras_batched": "Keras: decode all, one batched `model.predict`",
    }
    rows = [
        [label, f"{folder[key]['images_per_s']:,.1f}",
         f"{folder[key].get('seconds_median', folder[key].get('seconds')):.2f} s"
         + (f" for {folder[key]['files_timed']:,} files" if "files_timed" in folder[key] else ""),
         _pct(folder[key].get("accuracy"))]
        for key, label in names.items()
        if key in folder
    ]  # fmt: skip
    lines = [
        f"## End to end: a folder of {folder['files']:,} PNG digits",
        "",
        f"{folder['image']}, in a temporary folder, read right before each run (page cache "
        "warm); median of the runs.",
        "",
        *_table(["how", "images/s", "time", "accuracy"], rows),
    ]
    camera = record.get("camera", {})
    lines += ["### Camera frames", ""]
    if "skipped" in camera:
        lines += [f"Skipped: {camera['skipped']}.", ""]
    elif camera:
        lines += [
            f"{camera['how']}: {camera['frames_per_s']:,.0f} frames/s, "
            f"{camera['ms_per_frame_p50']:.2f} ms per frame (p50), accuracy "
            f"{_pct(camera['accuracy'], 1)} on {camera['frames']} frames.",
            "",
        ]
    return [*lines, f"Reproduce: `{record['command']}`", ""]


def _cold_start(record: Record) -> list[str]:
    summary = dict(record["summary"])
    if "bare_imports" in record:  # numpy, Pillow and LiteRT imported, nothing done
        summary["bare imports (numpy, Pillow, LiteRT)"] = record["bare_imports"]
    rows = [
        [name, f"{row['wall_s_median']:.2f} s", f"{row['peak_rss_mib_median']:.0f} MiB"]
        for name, row in summary.items()
    ]
    return [
        f"## Cold start: one image, a fresh process, median of {record['runs']} runs",
        "",
        *_table(["command", "wall", "peak RSS"], rows),
        f"Reproduce: `{record['command']}`",
        "",
    ]


def render_markdown(
    results: dict[str, Record], plot_link: str | None = None, source: str = "benchmarks/results"
) -> str:
    """RESULTS.md from the records (the parts present); `plot_link` is the plot's path."""
    if not results:
        return "# Benchmark results\n\nNo results yet: run `make bench`.\n"
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `benchmarks/summary.py` from `{source}/*.json` (`make bench`); "
        "do not edit by hand.",
        "",
        *_about(results),
        *_headline(results, plot_link),
    ]
    sections = {
        "parity": _parity,
        "versus": _versus,
        "end_to_end": _end_to_end,
        "cold_start": _cold_start,
    }
    for name, section in sections.items():
        if name in results:
            lines += section(results[name])
    return "\n".join(lines).rstrip() + "\n"


# -- the plot --------------------------------------------------------------------------------


def plot_points(results: dict[str, Record]) -> list[dict[str, Any]]:
    """(label, format, p50 us, accuracy, size) for each parity row, and ONNX Runtime."""
    points = [
        {"label": f"{r['model']} {r['format'].replace('tflite ', '')}", "format": r["format"],
         "p50_us": r["p50_us"], "accuracy": r["accuracy"], "size_bytes": r["size_bytes"]}
        for r in results.get("parity", {}).get("rows", [])
    ]  # fmt: skip
    for r in results.get("versus", {}).get("rows", []):
        if r["contender"].startswith("ONNX") and r["accuracy"] is not None:
            points.append(
                {"label": "default onnx", "format": "onnx float32", "p50_us": r["p50_us"],
                 "accuracy": r["accuracy"], "size_bytes": r["size_bytes"]}
            )  # fmt: skip
    return points


def _label(figure: Any, axes: Any, points: list[dict[str, Any]], size: float = 8.0) -> None:
    """Name every point beside it; a label that would cover another label or a marker is
    moved up or down, and then tied to its point by a thin line."""
    figure.canvas.draw()  # fixes the axes' limits, so labels can be placed in pixels
    per_point = figure.dpi / 72
    Box = tuple[float, float, float, float]  # left, right, bottom, top in pixels
    centres = [axes.transData.transform((p["p50_us"], p["accuracy"] * 100)) for p in points]
    taken: list[Box] = []
    for (x, y), p in zip(centres, points, strict=True):
        radius = (p["marker"] ** 0.5) / 2 * per_point
        taken.append((x - radius, x + radius, y - radius, y + radius))

    def free(box: Box) -> bool:
        return not any(
            box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3] for b in taken
        )

    order = sorted(range(len(points)), key=lambda i: (points[i]["p50_us"], -points[i]["accuracy"]))
    for index in order:
        p, (x, y) = points[index], centres[index]
        gap = 3 + (p["marker"] ** 0.5) / 2  # points: clear of the marker's edge
        left = x + gap * per_point
        width = len(p["label"]) * size * 0.6 * per_point
        height = size * 1.25 * per_point
        shifts = [0.0] + [sign * step * height for step in range(1, 9) for sign in (-1, 1)]
        shift = next(
            (
                s
                for s in shifts
                if free((left, left + width, y + s - height / 2, y + s + height / 2))
            ),
            0.0,
        )
        taken.append((left, left + width, y + shift - height / 2, y + shift + height / 2))
        axes.annotate(
            p["label"],
            (p["p50_us"], p["accuracy"] * 100),
            xytext=(gap, shift / per_point),
            textcoords="offset points",
            va="center",
            fontsize=size,
            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey"} if shift else None,
        )


def render_plot(results: dict[str, Record], path: Path) -> Path | None:
    """Accuracy vs p50 latency (log scale), marker area ∝ file size, every point labelled."""
    points = plot_points(results)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    biggest = max(p["size_bytes"] for p in points)
    for p in points:
        p["marker"] = 40 + 1400 * p["size_bytes"] / biggest  # area in points squared
    figure, axes = plt.subplots(figsize=(11, 7), dpi=110)
    for fmt, colour in FORMAT_COLOURS.items():
        chosen = [p for p in points if p["format"] == fmt]
        if not chosen:
            continue
        axes.scatter(
            [p["p50_us"] for p in chosen],
            [p["accuracy"] * 100 for p in chosen],
            s=[p["marker"] for p in chosen],
            c=colour,
            alpha=0.55,
            edgecolors="black",
            linewidths=0.6,
            label=fmt,
        )
    axes.set_xscale("log")
    latencies = [p["p50_us"] for p in points]
    axes.set_xlim(min(latencies) / 1.5, max(latencies) * 4)  # room for the labels on the right
    _label(figure, axes, points)
    axes.set_xlabel("batch-1 latency, p50 on one thread (microseconds, log scale)")
    axes.set_ylabel("MNIST test accuracy (%)")
    parity = results.get("parity", {})
    images = parity.get("rows", [{}])[0].get("test_images", "?") if parity else "?"
    axes.set_title(
        f"Accuracy vs latency on {images} MNIST test images; marker area = file size "
        f"(largest {_size(biggest)})"
    )
    axes.grid(True, which="both", alpha=0.25)
    legend = axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="format")
    for handle in legend.legend_handles:
        if handle is not None and hasattr(handle, "set_sizes"):
            handle.set_sizes([60])
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_summary(results_dir: Path, markdown: Path) -> tuple[Path, Path | None]:
    """RESULTS.md and the plot from the JSON files in `results_dir`."""
    results = load_results(results_dir)
    plot = render_plot(results, results_dir / PLOT_NAME)
    link = os.path.relpath(plot, markdown.parent) if plot else None
    source = (
        str(results_dir.resolve().relative_to(ROOT))
        if results_dir.resolve().is_relative_to(ROOT)
        else str(results_dir)
    )
    markdown.write_text(render_markdown(results, link, source))
    return markdown, plot


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    markdown, plot = write_summary(args.results, args.out)
    print(f"wrote {markdown}" + (f" and {plot}" if plot else ""))


if __name__ == "__main__":
    main()
