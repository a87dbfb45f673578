"""The `edge-digits` command: output formats, exit codes and one-line errors."""

from __future__ import annotations

import itertools
import json
import sys

import numpy as np
import pytest
from PIL import Image

COMMANDS = ["data", "train", "convert", "classify", "camera", "bench", "info"]


@pytest.fixture()
def invoke(cli):
    return cli


@pytest.fixture()
def bad_png(tmp_path):
    path = tmp_path / "not an image.png"
    path.write_text("<!doctype html><title>saved web page</title>")
    return path


@pytest.mark.pi
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(invoke, command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Usage: edge-digits " + command in " ".join(result.output.split())


@pytest.mark.pi
def test_version(invoke):
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.startswith("edge-digits ")


@pytest.mark.pi
def test_classify_prints_one_line_per_file(invoke, example_pngs):
    paths = [str(path) for path, _ in example_pngs[:3]]
    result = invoke("classify", *paths)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == paths
    assert [int(line.split(": ")[1].split()[0]) for line in lines] == [
        label for _, label in example_pngs[:3]
    ]


@pytest.mark.pi
def test_classify_json_lines(invoke, example_pngs):
    result = invoke("classify", "--json", "--top-k", "2", str(example_pngs[0][0]))
    assert result.exit_code == 0
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["path"] == str(example_pngs[0][0])
    assert line["label"] == example_pngs[0][1]
    assert 0.5 < line["score"] <= 1.0
    assert line["top_k"][0]["label"] == line["label"]
    assert len(line["top_k"]) == 2 and "error" not in line


@pytest.mark.pi
def test_a_bad_file_is_reported_and_the_rest_classified(invoke, example_pngs, bad_png):
    good = str(example_pngs[0][0])
    result = invoke("classify", "--json", good, str(bad_png))
    assert result.exit_code == 1
    lines = [json.loads(text) for text in result.stdout.splitlines()]
    assert lines[0]["label"] == example_pngs[0][1] and "error" not in lines[0]
    assert lines[1]["path"] == str(bad_png) and lines[1]["label"] is None
    assert lines[1]["error"].startswith(f"{bad_png}: not an image")
    assert result.stderr.splitlines() == [f"error: {lines[1]['error']}"]


@pytest.mark.pi
def test_missing_paths_fail_with_exit_1(invoke, tmp_path):
    result = invoke("classify", str(tmp_path / "missing.png"))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'missing.png'}: no such file or folder"


@pytest.mark.pi
def test_a_page_without_ink_is_null_not_a_guess(invoke, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    result = invoke("classify", "--json", str(blank))
    assert result.exit_code == 0
    line = json.loads(result.stdout)
    assert line["label"] is None and line["score"] is None and "no ink" in line["reason"]
    assert (
        invoke("classify", str(blank))
        .stdout.strip()
        .endswith("no digit (no ink found: nothing stands out from the background)")
    )


@pytest.mark.pi
def test_a_file_that_is_not_a_model_exits_3(invoke, tmp_path, example_pngs):
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"\0" * 64)
    result = invoke("classify", "--model", str(fake), str(example_pngs[0][0]))
    assert result.exit_code == 3
    assert result.stderr.strip().startswith(f"error: {fake}: not a TFLite model")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.pi
def test_wrong_option_values_say_what_is_allowed(invoke, example_pngs):
    image = str(example_pngs[0][0])
    for args, allowed in (
        (["--backend", "tensorflow"], "'litert', 'tflite-runtime'"),
        (["--threads", "0"], "--threads"),
        (["--top-k", "11"], "--top-k"),
    ):
        result = invoke("classify", *args, image)
        assert result.exit_code == 2
        (line,) = result.stderr.splitlines()  # one line, no box
        assert line.startswith("error: Invalid value for") and allowed in line
        assert line.endswith("(see: edge-digits classify --help)")
    missing = invoke("classify")
    assert missing.exit_code == 2
    assert missing.stderr.splitlines() == [
        "error: Missing argument 'paths'. (see: edge-digits classify --help)"
    ]


@pytest.mark.pi
def test_info_describes_the_default_model(
    invoke,
):
    result = invoke("info", "--json")
    assert result.exit_code == 0
    description = json.loads(result.stdout)
    assert description["input"]["shape"] == [-1, 28, 28, 1]
    assert description["input"]["dtype"] == "int8"
    assert description["output"]["quantization"]["scale"] > 0
    assert description["sidecar"]["precision"] == "int8"
    table = invoke("info")
    assert table.exit_code == 0 and "edge_int8.tflite" in table.stdout


@pytest.mark.pi
def test_data_with_a_bad_path_exits_4(invoke, tmp_path):
    bogus = tmp_path / "mnist.npz"
    bogus.write_text("nope")
    result = invoke("data", "--data", str(bogus))
    assert result.exit_code == 4
    assert result.stderr.strip().startswith(f"error: {bogus}: not a readable .npz archive")


def test_data_prints_where_mnist_lives_and_label_counts(invoke, mnist):
    result = invoke("data", "--data", str(mnist.path))
    assert result.exit_code == 0
    assert f"MNIST from path: {mnist.path}" in result.stdout
    assert "5923" in result.stdout and "1135" in result.stdout  # train zeros, test ones


@pytest.mark.pi
@pytest.mark.parametrize("command", [["train"], ["convert", "--model", "model.keras"]])
def test_train_and_convert_without_tensorflow_say_how_to_install(invoke, monkeypatch, command):
    # Simulate a runtime-only install: TensorFlow and Keras cannot be imported, and the
    # heavy sub-packages have not been imported yet.
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.setitem(sys.modules, "keras", None)
    for name in [
        m for m in sys.modules if m.startswith(("edge_digits.train", "edge_digits.convert"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    result = invoke(*command)
    assert result.exit_code == 5
    assert "pip install 'edge-digits[train]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.pi
def test_paths_are_printed_as_given_never_as_markup_or_emoji(invoke, example_pngs, tmp_path):
    odd = tmp_path / "a:smile:[red]b[x].png"
    odd.write_bytes(example_pngs[0][0].read_bytes())
    result = invoke("classify", "--json", str(odd))
    assert json.loads(result.stdout)["path"] == str(odd)
    assert invoke("classify", str(odd)).stdout.startswith(str(odd) + ": ")
    bad = invoke("info", "--model", str(tmp_path / "m[/]x.tflite"))
    assert bad.exit_code == 3
    assert bad.stderr.strip() == f"error: {tmp_path / 'm[/]x.tflite'}: no such model file"


@pytest.mark.pi
def test_number_reads_rows_and_reports_boxes(invoke, example_digits, tmp_path):
    # "2026" written as four MNIST test digits (the first of each class) side by side on paper.
    row = np.concatenate(
        [np.pad(255 - example_digits[d], 6, constant_values=255) for d in (2, 0, 2, 6)], axis=1
    )
    page = np.pad(row, 30, constant_values=255)
    path = tmp_path / "year.png"
    Image.fromarray(page).resize((page.shape[1] * 4, page.shape[0] * 4)).save(path)
    result = invoke("classify", "--number", "--json", str(path))
    assert result.exit_code == 0
    line = json.loads(result.stdout)
    assert line["text"] == "2026" and line["lines"] == ["2026"]
    assert line["label"] is None and 0.5 < line["score"] <= 1
    boxes = [d["box"] for d in line["digits"]]
    assert [d["label"] for d in line["digits"]] == [2, 0, 2, 6]
    assert all(left[0] + left[2] <= right[0] for left, right in itertools.pairwise(boxes))
    assert invoke("classify", "--number", str(path)).stdout.strip().startswith(f"{path}: 2026 (")


@pytest.mark.pi
def test_debug_dir_gets_every_step(invoke, paper_digit, tmp_path):
    folder = tmp_path / "debug"
    result = invoke("classify", "--debug-dir", str(folder), str(paper_digit))
    assert result.exit_code == 0
    names = sorted(p.name for p in folder.iterdir())
    stem = f"0000-{paper_digit.stem}"
    assert names == [
        f"{stem}.{step}.png" for step in ("1-gray", "2-ink", "3-blobs", "4-found", "5-input")
    ]
    enlarged = Image.open(folder / f"{stem}.5-input.png")
    assert enlarged.size == (30 * 8, 30 * 8)  # 28 px + a 1 px frame each side, 8x


@pytest.mark.pi
def test_an_unwritable_output_is_exit_6(invoke, example_pngs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke("classify", "--debug-dir", str(blocker / "sub"), str(example_pngs[0][0]))
    assert result.exit_code == 6
    assert result.stderr.startswith(f"error: {blocker / 'sub'}")


@pytest.mark.pi
def test_a_glob_of_folders_classifies_their_images(invoke, example_pngs, tmp_path):
    for name in ("set1", "set2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "d.png").write_bytes(example_pngs[0][0].read_bytes())
    result = invoke("classify", str(tmp_path / "set*"))
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2
    assert invoke("classify", "").exit_code == 1


@pytest.mark.train
def test_ctrl_c_during_training_says_how_to_resume(invoke, monkeypatch, tmp_path):
    import edge_digits.train.training as training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    result = invoke("train", "--out", str(tmp_path / "run"))
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        f"interrupted; `edge-digits train --resume --out {tmp_path / 'run'}` continues from the last epoch"
    )


@pytest.mark.pi
def test_a_folder_is_read_recursively_in_path_order(tmp_path):
    from edge_digits.runtime.files.paths import expand_paths

    for name in (
        "b.png",
        "a/z.PNG",
        "a-b/c.jpg",
        "a/b/d.png",
        "notes.txt",
        "a/.x.tmp-1-ab12cd34.png",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path / "a", target_is_directory=True)  # not followed
    found = [p.relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path])]
    # Folder by folder, as sorting Paths orders them ("a/..." before "a-b/..."); the temporary
    # file of an interrupted write is skipped.
    assert found == ["a/b/d.png", "a/z.PNG", "a-b/c.jpg", "b.png"]
