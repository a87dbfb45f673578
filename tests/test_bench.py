"""`edge-digits bench`: statistics, option lists, the table/JSON/Markdown output, the command's
fields and exit codes. Small run counts, and no assertion on how fast anything is."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from edge_digits.runtime.bench.accuracy import Accuracy, labelled_files
from edge_digits.runtime.bench.report import (
    append_markdown,
    check_appendable,
    markdown_section,
    rich_tables,
    table_rows,
)
from edge_digits.runtime.bench.runner import (
    MAX_BATCH_SIZE,
    BenchOptions,
    BenchReport,
    LatencyStats,
    SettingResult,
    Throughput,
    bench_options,
    latency_stats,
    run_benchmark,
    worker_timeout,
)
from edge_digits.runtime.bench.worker import main as worker_main
from edge_digits.runtime.bench.worker import quantize_input, round_sizes
from edge_digits.runtime.core.classifier import MAX_BATCH, Classifier, ClassifierOptions
from edge_digits.runtime.core.interpreter import BACKENDS, available_backends, make_interpreter
from edge_digits.runtime.errors import DataError, OutputError, UsageError
from PIL import Image
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
QUICK = ["--runs", "12", "--warmup", "2", "--batch", "1", "--batch", "3", "--xnnpack", "on"]

# Every field `bench --json` prints, as documented in the README.
TOP_FIELDS = {"schema", "when", "machine", "settings", "notes", "results"}
MACHINE_FIELDS = {
    "cpu", "cores", "arch", "os", "python", "numpy", "edge_digits", "git_commit", "backends",
}  # fmt: skip
SETTINGS_FIELDS = {"runs", "warmup", "batch_sizes", "threads", "backends", "xnnpack", "data"}
RESULT_FIELDS = {
    "model", "model_name", "size_bytes", "precision", "backend", "backend_version", "xnnpack",
    "threads", "import_ms", "load_ms", "first_inference_ms", "latency_us", "overhead_p50",
    "throughput", "base_rss_mib", "peak_rss_mib", "accuracy",
}  # fmt: skip
LATENCY_FIELDS = {"p50", "p90", "p99", "mean", "std", "runs"}
THROUGHPUT_FIELDS = {"batch", "images_per_s", "batch_ms_p50", "calls"}
ACCURACY_FIELDS = {"data", "images", "correct", "accuracy", "no_digit", "unreadable"}


@pytest.fixture()
def invoke(cli):
    return cli


def report(**changes) -> BenchReport:
    """A made-up report: output formatting is tested without measuring anything."""
    result = SettingResult(
        model="/models/a|b.tflite", model_name="a|b.tflite", size_bytes=2048, precision="int8",
        backend="litert", backend_version="2.3.0", xnnpack=True, threads=1, import_ms=5.0,
        load_ms=2.5, first_inference_ms=0.3,
        latency_us={
            "classifier": LatencyStats(30.0, 40.0, 50.0, 32.0, 5.0, 1000),
            "interpreter": LatencyStats(20.0, 25.0, 30.0, 21.0, 2.0, 1000),
        },
        overhead_p50=1.5,
        throughput=(Throughput(1, 30000.0, 0.033, 1000), Throughput(8, 40000.0, 0.2, 125)),
        base_rss_mib=37.0, peak_rss_mib=56.5, accuracy=Accuracy("mnist", 10000, 9952, 0.9952),
    )  # fmt: skip
    machine = {
        "cpu": "Test CPU", "cores": 4, "arch": "aarch64", "os": "Linux-test", "python": "3.11.7",
        "numpy": "1.26.4", "edge_digits": "0.1.0", "git_commit": "abc123", "backends": {"litert": "2.3.0"},
    }  # fmt: skip
    fields = {
        "when": "2026-11-21T08:00:00+00:00",
        "machine": machine,
        "options": BenchOptions(batch_sizes=(1, 8), accuracy="mnist"),
        "results": (result,),
        "notes": ("tflite-runtime: not installed here; skipped",),
    }
    fields.update(changes)
    return BenchReport(**fields)


# -- statistics and option lists ----------------------------------------------------------------


@pytest.mark.pi
def test_latency_stats_on_a_known_array():
    stats = latency_stats(np.arange(1, 101) * 1e-6)  # 1..100 microseconds
    assert stats.runs == 100
    assert (stats.p50, stats.p90, stats.p99) == pytest.approx((50.5, 90.1, 99.01))
    assert stats.mean == pytest.approx(50.5)
    assert stats.std == pytest.approx(math.sqrt((100**2 - 1) / 12))  # population std of 1..n


@pytest.mark.pi
def test_latency_stats_of_equal_times_and_of_one_time():
    assert latency_stats([2e-6] * 7) == LatencyStats(2.0, 2.0, 2.0, 2.0, 0.0, 7)
    assert latency_stats([5e-6]) == pytest.approx(LatencyStats(5.0, 5.0, 5.0, 5.0, 0.0, 1))
    with pytest.raises(ValueError):
        latency_stats([])


@pytest.mark.pi
def test_runs_are_split_into_rounds_that_add_up():
    assert round_sizes(1000) == [100] * 10
    assert round_sizes(5) == [1] * 5
    assert sum(round_sizes(23)) == 23 and max(round_sizes(23)) - min(round_sizes(23)) <= 1


@pytest.mark.pi
def test_bench_options_from_the_command_lines_lists(tmp_path):
    options = bench_options(
        [tmp_path / "m.tflite"], batch_sizes=[1, 8], threads=[1, 2, 4], xnnpack=["on"]
    )
    assert options.models == (tmp_path / "m.tflite",)
    assert options.batch_sizes == (1, 8) and options.threads == (1, 2, 4)
    assert options.xnnpack == (True,) and options.backends is None
    assert bench_options().models == (None,)  # the embedded model
    assert bench_options() == BenchOptions()  # one set of defaults
    assert BenchOptions().batch_sizes == (1, 8, 64) and BenchOptions().xnnpack == (True, False)
    # repeats count once, in the order first given
    assert bench_options(batch_sizes=[8, 1, 8]).batch_sizes == (8, 1)
    assert bench_options(xnnpack=["off", "on", "off"]).xnnpack == (False, True)
    assert bench_options(backends=["tflite-runtime", "litert"]).backends == (
        "tflite-runtime",
        "litert",
    )


@pytest.mark.pi
@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"threads": [0]}, r"--threads 0: expected a whole number from 1 to 64$"),
        ({"threads": [1, 65]}, r"--threads 65: expected a whole number from 1 to 64$"),
        ({"batch_sizes": [1.5]}, r"--batch 1\.5: expected a whole number from 1 to 256"),
        ({"batch_sizes": ["8"]}, r"--batch '8': expected a whole number"),
        ({"batch_sizes": []}, r"--batch: give at least one value"),
        ({"xnnpack": ["yes"]}, r"--xnnpack: unknown value 'yes'; allowed: on, off"),
        (
            {"backends": ["litert", "tflite"]},
            r"--backend: unknown value 'tflite'; allowed: litert, tflite-runtime "
            r"\(repeat --backend for several\)",
        ),
        ({"runs": 0}, r"--runs must be 1 or more"),
    ],
)
def test_bad_options_say_what_is_allowed_in_the_cli_vocabulary(given, message):
    with pytest.raises(UsageError, match=message) as raised:
        bench_options(**given)
    assert "comma" not in str(raised.value)


@pytest.mark.pi
def test_accuracy_is_mnist_or_a_folder_and_data_a_local_mnist(tmp_path):
    npz = tmp_path / "mnist.npz"
    assert (bench_options(accuracy="mnist").accuracy, bench_options().accuracy) == ("mnist", None)
    assert bench_options(accuracy=str(tmp_path)).accuracy == str(tmp_path)
    with_data = bench_options(data=npz)  # --data alone: the accuracy on that MNIST
    assert (with_data.accuracy, with_data.data) == ("mnist", npz)
    assert with_data == bench_options(accuracy="mnist", data=npz)
    with pytest.raises(UsageError, match=r"--accuracy '.*missing': expected 'mnist' or a folder"):
        bench_options(accuracy=str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="--data is the MNIST that `--accuracy mnist` scores"):
        bench_options(accuracy=str(tmp_path), data=npz)


@pytest.mark.pi
def test_batch_sizes_stop_at_the_classifiers_largest_batch():
    # Classifier.predict splits a larger batch into several interpreter calls: "img/s @1024"
    # would be four calls of 256, so such a batch is refused rather than mislabelled.
    assert MAX_BATCH_SIZE == MAX_BATCH == 256
    assert bench_options(batch_sizes=[1, 256]).batch_sizes == (1, 256)
    with pytest.raises(
        UsageError,
        match=r"--batch 257: .* from 1 to 256 \(the largest batch per interpreter call\)",
    ):
        bench_options(batch_sizes=[1, 257])


@pytest.mark.pi
def test_the_worker_timeout_is_generous_and_grows_with_the_runs():
    default = worker_timeout(bench_options())
    assert default >= 600  # minutes, for the ~5,800 images of a default setting
    assert worker_timeout(bench_options(runs=10_000)) > default + 1000
    assert worker_timeout(bench_options(batch_sizes=[1])) < default


@pytest.mark.pi
def test_inputs_are_quantised_as_tflite_defines_it():
    values = np.array([0.0, 1.0, 0.25, 2.0, -1.0], np.float32)
    int8 = quantize_input(values, {"dtype": np.int8, "quantization": (1 / 255, -128)})
    assert int8.dtype == np.int8 and int8.tolist() == [-128, 127, -64, 127, -128]
    float32 = quantize_input(values, {"dtype": np.float32, "quantization": (0.0, 0)})
    assert float32.dtype == np.float32 and float32.tolist() == values.tolist()


@pytest.mark.pi
def test_the_hand_driven_interpreter_is_fed_what_the_classifier_feeds_it():
    """Both latency paths run the model on the same numbers: the same scores come out."""
    classifier = Classifier(ClassifierOptions(num_threads=1))  # the embedded int8 model
    image = np.asarray(Image.open(EXAMPLES / "mnist_test_0000_label7.png"), np.float32)[None] / 255
    interpreter, _ = make_interpreter(
        classifier.model_path.read_bytes(), origin="embedded", num_threads=1
    )
    details, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(
        details["index"], quantize_input(image, details).reshape(details["shape"])
    )
    interpreter.invoke()
    scale, zero_point = output["quantization"]
    scores = (interpreter.get_tensor(output["index"]).astype(np.float32) - zero_point) * scale
    sidecar = classifier.sidecar
    assert sidecar is not None
    if sidecar.output == "logits":  # the classifier's own last step: softmax(logits / T)
        scaled = scores / np.float32(sidecar.temperature)
        scores = np.exp(scaled - scaled.max()) / np.exp(scaled - scaled.max()).sum()
    np.testing.assert_allclose(scores, classifier.predict(image), atol=1e-6)


@pytest.mark.pi
def test_labelled_files_by_name_or_by_folder(tmp_path):
    for name in ("scan_label3.png", "7/photo.png", "unlabelled.png", "12/x.png", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLES / "mnist_test_0000_label7.png", tmp_path / name)
    found = {
        path.relative_to(tmp_path).as_posix(): label for path, label in labelled_files(tmp_path)
    }
    assert found == {"scan_label3.png": 3, "7/photo.png": 7}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no labelled images"):
        labelled_files(empty)


# -- output -----------------------------------------------------------------------------------


@pytest.mark.pi
def test_table_rows_show_every_figure():
    columns, rows = table_rows(report())
    row = dict(zip(columns, rows[0], strict=True))
    assert row == {
        "model": "a|b.tflite", "precision": "int8", "backend": "litert", "XNNPACK": "on",
        "threads": "1", "size (KiB)": "2.0", "load (ms)": "2.5", "first (ms)": "0.30",
        "p50 (us)": "30.0", "p90 (us)": "40.0", "p99 (us)": "50.0", "std (us)": "5.0",
        "interpreter p50 (us)": "20.0", "overhead": "1.50x", "img/s @1": "30,000",
        "img/s @8": "40,000", "peak RSS (MiB)": "56.5", "accuracy": "99.52%",
    }  # fmt: skip
    without_data = report(options=BenchOptions(batch_sizes=(1, 8)))
    assert "accuracy" not in table_rows(without_data)[0]


@pytest.mark.pi
def test_the_terminal_tables_have_a_column_per_setting_and_fit_the_width():
    console = Console(record=True, width=80, color_system=None)
    for table in rich_tables(report()):
        console.print(table)
    text = console.export_text()
    assert "a|b.tflite" in text and "XNNPACK on, 1 thr." in text
    for figure in ("p50 (us)", "30.0", "1.50x", "40,000", "56.5", "99.52%"):
        assert figure in text
    many = report(results=report().results * 8)
    tables = rich_tables(many, width=80)
    assert len(tables) == 3 and sum(len(table.columns) - 1 for table in tables) == 8
    assert len(rich_tables(many, width=200)) == 1


@pytest.mark.pi
def test_json_is_plain_data_with_every_documented_field():
    data = json.loads(json.dumps(report().to_dict()))
    assert set(data) == TOP_FIELDS and set(data["machine"]) == MACHINE_FIELDS
    assert set(data["settings"]) == SETTINGS_FIELDS
    (result,) = data["results"]
    assert set(result) == RESULT_FIELDS
    assert set(result["latency_us"]["classifier"]) == LATENCY_FIELDS
    assert set(result["throughput"][0]) == THROUGHPUT_FIELDS
    assert set(result["accuracy"]) == ACCURACY_FIELDS
    assert data["settings"]["batch_sizes"] == [1, 8] and data["settings"]["xnnpack"] == [
        True,
        False,
    ]


@pytest.mark.pi
def test_markdown_section_is_dated_with_machine_info_and_rows():
    text = markdown_section(report())
    lines = text.splitlines()
    assert lines[0] == "## edge-digits bench, 2026-11-21T08:00:00+00:00"
    assert "- machine: Test CPU, 4 cores (aarch64), Linux-test" in lines
    assert any(
        "Python 3.11.7" in line and "git abc123" in line and "litert 2.3.0" in line
        for line in lines
    )
    assert "- note: tflite-runtime: not installed here; skipped" in lines
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 3 and table[1].count("---") == len(table_rows(report())[0])
    assert table[2].startswith("| a\\|b.tflite | int8 | litert | on | 1 |")  # pipes escaped
    assert text.endswith(" |\n")


@pytest.mark.pi
def test_markdown_is_appended_never_overwritten(tmp_path):
    path = tmp_path / "results" / "BENCH.md"
    check_appendable(path)  # creates the folder
    path.write_text("# Results\n\nkept as it was")  # no final newline
    append_markdown(path, "## first\n")
    append_markdown(path, "## second\n")
    assert path.read_text() == "# Results\n\nkept as it was\n\n## first\n\n## second\n"
    fresh = tmp_path / "fresh.md"
    append_markdown(fresh, "## only\n")
    assert fresh.read_text() == "## only\n"


@pytest.mark.pi
def test_an_output_that_cannot_be_appended_to_is_refused_before_work(tmp_path):
    with pytest.raises(OutputError, match="is a folder"):
        check_appendable(tmp_path)
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked.md"
        locked.write_text("x")
        locked.chmod(0o444)
        with pytest.raises(OutputError, match="permission denied"):
            check_appendable(locked)


# -- measuring (small run counts) --------------------------------------------------------------


def test_run_benchmark_reports_progress_and_plausible_figures():
    seen = []
    options = bench_options(runs=12, warmup=2, batch_sizes=[1, 3], xnnpack=["on"])
    result = run_benchmark(options, lambda what, done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] == seen[-1][1]
    (setting,) = [r for r in result.results if r.backend == result.results[0].backend]
    assert setting.latency_us["classifier"].runs == setting.latency_us["interpreter"].runs == 12
    assert setting.overhead_p50 > 0 and setting.size_bytes > 0 and setting.first_inference_ms > 0
    assert [item.batch for item in setting.throughput] == [1, 3]
    assert setting.peak_rss_mib is None or setting.peak_rss_mib >= (setting.base_rss_mib or 0)


@pytest.mark.pi
def test_bench_json_on_the_embedded_model_has_every_documented_field(invoke):
    result = invoke("bench", "--json", *QUICK)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == TOP_FIELDS
    assert set(data["machine"]) == MACHINE_FIELDS and set(data["settings"]) == SETTINGS_FIELDS
    assert data["results"], data["notes"]
    for record in data["results"]:
        assert set(record) == RESULT_FIELDS
        assert record["model_name"] == "edge_int8.tflite" and record["precision"] == "int8"
        for path in ("classifier", "interpreter"):
            assert set(record["latency_us"][path]) == LATENCY_FIELDS
            assert record["latency_us"][path]["runs"] == 12
        assert [set(item) for item in record["throughput"]] == [THROUGHPUT_FIELDS] * 2
        assert record["accuracy"] is None and record["xnnpack"] is True
    assert set(data["machine"]["backends"]) == {r["backend"] for r in data["results"]}


def bench_paragraph() -> str:
    """The README's `- **bench**:` item: its first line and the indented lines after it."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"^- \*\*bench\*\*:.*\n(?:  .*\n)*", readme, flags=re.MULTILINE)
    assert found, "README has no '- **bench**:' paragraph"
    return found.group(0)


def test_every_json_field_is_documented_in_the_readmes_bench_paragraph():
    paragraph = bench_paragraph()
    assert "`--json` prints one object" in paragraph and "### Exit codes" not in paragraph
    fields = (
        TOP_FIELDS | MACHINE_FIELDS | SETTINGS_FIELDS | RESULT_FIELDS | LATENCY_FIELDS
        | THROUGHPUT_FIELDS | ACCURACY_FIELDS
    )  # fmt: skip
    missing = sorted(name for name in fields if f"`{name}`" not in paragraph)
    assert not missing, f"the README's bench paragraph does not document: {missing}"


# Not marked pi: bench is measured on the emulated Pi by test_bench_json_on_the_embedded_model_has_every_documented_field
def test_bench_table_accuracy_on_a_folder_and_markdown_out(invoke, tmp_path):
    out = tmp_path / "bench.md"
    out.write_text("# earlier results\n")
    result = invoke("bench", *QUICK, "--accuracy", str(EXAMPLES), "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "p50 (us)" in result.stdout and "accuracy" in result.stdout
    assert "100.00%" in result.stdout  # the example digits are all read right
    text = out.read_text()
    assert text.startswith("# earlier results\n\n## edge-digits bench, ")
    assert re.search(r"\| edge_int8\.tflite \| int8 \| .* \| 100\.00% \|", text)
    assert f"appended to {out}" in result.stderr


@pytest.mark.pi
def test_bench_has_help(invoke):
    result = invoke("bench", "--help")
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stdout).split())  # no box, no wrapping
    assert result.exit_code == 0 and "Usage: edge-digits bench" in text
    assert f"(at most {MAX_BATCH})" in text  # the help's limit is the Classifier's
    assert f"1<=x<={MAX_BATCH}" in text  # and so is --batch's range


@pytest.mark.pi
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--model", "missing.tflite"], 3, "missing.tflite: no such model file"),
        (["--batch", "x"], 2, "Invalid value for '--batch': 'x' is not a valid int"),
        (["--batch", "1024"], 2, "Invalid value for '--batch': 1024 is not in the range 1<=x<=256"),
        (["--threads", "0"], 2, "Invalid value for '--threads': 0 is not in the range 1<=x<=64"),
        (
            ["--backend", "tensorflow"],
            2,
            "Invalid value for '--backend': 'tensorflow' is not one of 'litert', 'tflite-runtime'",
        ),
        (["--xnnpack", "yes"], 2, "Invalid value for '--xnnpack': 'yes' is not one of 'on', 'off'"),
        (["--accuracy", "nowhere"], 2, "--accuracy 'nowhere': expected 'mnist' or a folder"),
    ],
)
def test_bad_input_is_one_line_and_a_documented_exit_code(invoke, args, code, message):
    result = invoke("bench", *QUICK, *args)
    assert result.exit_code == code
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.pi
def test_a_file_that_is_not_a_model_exits_3(invoke, tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a model at all" * 10)
    result = invoke("bench", *QUICK, "--model", str(bad))
    assert result.exit_code == 3 and "not a TFLite model" in result.stderr


@pytest.mark.pi
def test_data_errors_exit_4_and_output_errors_exit_6(invoke, tmp_path):
    result = invoke("bench", *QUICK, "--accuracy", str(tmp_path))
    assert result.exit_code == 4 and "no labelled images" in result.stderr
    result = invoke("bench", *QUICK, "--accuracy", "mnist", "--data", str(tmp_path / "no.npz"))
    assert result.exit_code == 4
    (tmp_path / "file").write_text("not a folder")
    result = invoke("bench", *QUICK, "--out", str(tmp_path / "file" / "runs"))
    assert result.exit_code == 6 and f"{tmp_path / 'file'}" in result.stderr
    (tmp_path / "out" / "bench.md").mkdir(parents=True)
    result = invoke("bench", *QUICK, "--out", str(tmp_path / "out"))
    assert result.exit_code == 6 and "is a folder" in result.stderr
    assert "choose another --out folder" in result.stderr


# Not marked pi: one bench run on the emulated Pi is enough (worker processes are slow there)
def test_a_backend_that_is_not_installed_is_skipped_with_a_note(invoke):
    missing = [name for name in BACKENDS if name not in available_backends()]
    if not missing:
        pytest.skip("every backend is installed here")
    result = invoke("bench", *QUICK, "--backend", missing[0])
    assert result.exit_code == 5 and "not installed" in result.stderr
    both = [word for name in BACKENDS for word in ("--backend", name)]
    result = invoke("bench", *QUICK, "--json", *both)
    assert result.exit_code == 0
    assert f"{missing[0]}: not installed here; skipped" in json.loads(result.stdout)["notes"]
    assert f"note: {missing[0]}: not installed here; skipped" in result.stderr


@pytest.mark.pi
def test_a_setting_the_interpreter_cannot_run_is_skipped_with_a_note(monkeypatch):
    from edge_digits.runtime.bench import runner as bench
    from edge_digits.runtime.errors import ModelError

    canned = report().results[0]

    def fake_worker(setting, options, part_done):
        if not setting.xnnpack:
            raise ModelError("m.tflite: the interpreter cannot load this model (op v12)")
        part_done(1.0)
        record = json.loads(json.dumps(BenchReport("now", {}, options, (canned,)).to_dict()))
        return {**record["results"][0], "model": str(setting.model.path)}

    monkeypatch.setattr(bench, "_run_worker", fake_worker)
    result = run_benchmark(
        bench_options(runs=3, xnnpack=["on", "off"], backends=available_backends()[:1])
    )
    assert [r.xnnpack for r in result.results] == [True]
    assert any("XNNPACK off" in note and "op v12" in note for note in result.notes)
    with pytest.raises(ModelError, match="op v12"):
        run_benchmark(bench_options(runs=3, xnnpack=["off"], backends=available_backends()[:1]))


def test_a_worker_that_hangs_is_killed_and_the_run_ends_with_exit_3(invoke, monkeypatch):
    from edge_digits.runtime.bench import runner as bench

    started = []

    def hanging(spec):
        started.append(spec)
        return [sys.executable, "-c", "import time; time.sleep(120)"]

    monkeypatch.setattr(bench, "worker_timeout", lambda options: 1.0)
    monkeypatch.setattr(bench, "_worker_command", hanging)
    start = time.monotonic()
    result = invoke("bench", *QUICK, "--threads", "1", "--threads", "2")
    assert time.monotonic() - start < 60
    assert result.exit_code == 3 and len(result.errors) == 1
    assert result.stderr.startswith("error: ") and "no result within 1 s" in result.stderr
    assert "the interpreter hung" in result.stderr and result.stdout == ""
    assert len(started) == 1  # the run ended there: the second setting was not started


@pytest.mark.pi
def test_the_worker_reports_errors_as_a_json_line(capsys, tmp_path):
    spec = {
        "model": str(tmp_path / "gone.tflite"), "precision": "int8", "backend": available_backends()[0],
        "xnnpack": True, "threads": 1, "runs": 3, "warmup": 0, "batch_sizes": [1],
    }  # fmt: skip
    assert worker_main([json.dumps(spec)]) == 1
    message = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert message == {"error": f"{tmp_path / 'gone.tflite'}: no such model file", "exit_code": 3}


@pytest.mark.pi
@pytest.mark.parametrize("accuracy", [None, Accuracy("examples", 11, 10, 10 / 11, 1, 0)])
def test_results_rebuild_from_json(accuracy):
    original = replace(report().results[0], accuracy=accuracy)
    record = json.loads(json.dumps(BenchReport("now", {}, BenchOptions(), (original,)).to_dict()))
    assert SettingResult.from_worker(record["results"][0]) == original
