"""The `edge-digits` command: output formats, exit codes and one-line errors."""

from __future__ import annotations

import json
import sys

import pytest
from edge_digits.runtime.cli import app
from PIL import Image
from typer.testing import CliRunner

runner = CliRunner()
COMMANDS = ["data", "train", "convert", "classify", "info"]


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture()
def bad_png(tmp_path):
    path = tmp_path / "not an image.png"
    path.write_text("<!doctype html><title>saved web page</title>")
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Usage: edge-digits " + command in " ".join(result.output.split())


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.startswith("edge-digits ")


def test_classify_prints_one_line_per_file(digit_pngs):
    paths = [str(path) for path, _ in digit_pngs[:3]]
    result = invoke("classify", *paths)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == paths
    assert [int(line.split(": ")[1].split()[0]) for line in lines] == [
        label for _, label in digit_pngs[:3]
    ]


def test_classify_json_lines(digit_pngs):
    result = invoke("classify", "--json", "--top-k", "2", str(digit_pngs[0][0]))
    assert result.exit_code == 0
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["path"] == str(digit_pngs[0][0])
    assert line["label"] == digit_pngs[0][1]
    assert 0.5 < line["score"] <= 1.0
    assert line["top_k"][0]["label"] == line["label"]
    assert len(line["top_k"]) == 2 and "error" not in line


def test_a_bad_file_is_reported_and_the_rest_classified(digit_pngs, bad_png):
    good = str(digit_pngs[0][0])
    result = invoke("classify", "--json", good, str(bad_png))
    assert result.exit_code == 1
    lines = [json.loads(text) for text in result.stdout.splitlines()]
    assert lines[0]["label"] == digit_pngs[0][1] and "error" not in lines[0]
    assert lines[1]["path"] == str(bad_png) and lines[1]["label"] is None
    assert lines[1]["error"].startswith(f"{bad_png}: not an image")
    assert result.stderr.splitlines() == [f"error: {lines[1]['error']}"]


def test_missing_paths_fail_with_exit_1(tmp_path):
    result = invoke("classify", str(tmp_path / "missing.png"))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'missing.png'}: no such file or folder"


def test_a_page_without_ink_is_null_not_a_guess(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    result = invoke("classify", "--json", str(blank))
    assert result.exit_code == 0
    line = json.loads(result.stdout)
    assert line["label"] is None and "no ink" in line["reason"]
    assert (
        invoke("classify", str(blank))
        .stdout.strip()
        .endswith("no digit (no ink found: nothing stands out from the background)")
    )


def test_a_file_that_is_not_a_model_exits_3(tmp_path, digit_pngs):
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"\0" * 64)
    result = invoke("classify", "--model", str(fake), str(digit_pngs[0][0]))
    assert result.exit_code == 3
    assert result.stderr.strip().startswith(f"error: {fake}: not a TFLite model")
    assert len(result.stderr.strip().splitlines()) == 1


def test_wrong_option_values_say_what_is_allowed(digit_pngs):
    result = invoke("classify", "--backend", "tensorflow", str(digit_pngs[0][0]))
    assert result.exit_code == 2
    assert "litert" in result.stderr and "tflite-runtime" in result.stderr
    assert invoke("classify", "--threads", "0", str(digit_pngs[0][0])).exit_code == 2
    assert invoke("classify", "--top-k", "11", str(digit_pngs[0][0])).exit_code == 2


def test_info_describes_the_default_model():
    result = invoke("info", "--json")
    assert result.exit_code == 0
    description = json.loads(result.stdout)
    assert description["input"]["shape"] == [-1, 28, 28, 1]
    assert description["input"]["dtype"] == "int8"
    assert description["output"]["quantization"]["scale"] > 0
    assert description["sidecar"]["precision"] == "int8"
    table = invoke("info")
    assert table.exit_code == 0 and "edge_int8.tflite" in table.stdout


def test_data_with_a_bad_path_exits_4(tmp_path):
    bogus = tmp_path / "mnist.npz"
    bogus.write_text("nope")
    result = invoke("data", "--data", str(bogus))
    assert result.exit_code == 4
    assert result.stderr.strip().startswith(f"error: {bogus}: not a readable .npz archive")


def test_data_prints_where_mnist_lives_and_label_counts(mnist):
    result = invoke("data", "--data", str(mnist.path))
    assert result.exit_code == 0
    assert f"MNIST from path: {mnist.path}" in result.stdout
    assert "5923" in result.stdout and "1135" in result.stdout  # train zeros, test ones


@pytest.mark.parametrize("command", [["train"], ["convert", "model.keras"]])
def test_train_and_convert_without_tensorflow_say_how_to_install(monkeypatch, command):
    # Simulate a runtime-only install: TensorFlow and the heavy sub-packages cannot import.
    for name in (
        "tensorflow",
        "keras",
        "edge_digits.train.training",
        "edge_digits.convert.converter",
    ):
        monkeypatch.setitem(sys.modules, name, None)
    result = invoke(*command)
    assert result.exit_code == 5
    assert "pip install 'edge-digits[train]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
