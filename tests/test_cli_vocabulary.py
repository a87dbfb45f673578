"""One command-line vocabulary: the same word means the same thing in every command.

--model/-m is the model worked on, --data a local MNIST (train: folders of your own digits,
its MNIST --mnist), --out a folder, a list is a repeated
option, closed choices are Enums. The old spellings still work for this release, each with
exactly one `warning:` line naming the new one (README: "Deprecated spellings")."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from edge_digits.runtime.cli import app
from edge_digits.runtime.cli import commands as cli_commands
from edge_digits.runtime.cli.deprecated import bench_markdown, split_comma_lists
from edge_digits.runtime.cli.options import (
    BENCH_BACKEND_HELP,
    HELP,
    MAX_BATCH,
    MAX_THREADS,
    REPEAT,
    Arch,
    Backend,
    Precision,
    Strategy,
    Xnnpack,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EMBEDDED = ROOT / "runtime" / "models" / "edge_int8.tflite"
COMMANDS = ["data", "train", "convert", "classify", "info", "bench", "camera", "serve"]

# The vocabulary: each shared option, and the commands that have it.
SHARED = {
    "--model": {"convert", "classify", "info", "bench", "camera", "serve"},
    "--data": {"data", "train", "convert", "bench"},
    "--out": {"train", "convert", "bench"},
    "--threads": {"classify", "bench", "camera", "serve"},
    "--backend": {"classify", "bench", "camera", "serve"},
    "--max-pixels": {"classify", "camera", "serve"},
    "--json": {"classify", "info", "bench"},
    "--number": {"classify", "camera"},
}
# A quick bench: few calls, one batch size, XNNPACK on only.
QUICK = ["--runs", "5", "--warmup", "1", "--batch", "1", "--xnnpack", "on"]


def params(command: str) -> dict[str, typer.core.TyperOption]:
    """The options of one command, by their long name."""
    group = typer.main.get_command(app)
    found = group.commands[command].params  # type: ignore[attr-defined]
    return {opt: param for param in found for opt in param.opts if opt.startswith("--")}


def deprecations(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "deprecated" in line]


def one_deprecation(stderr: str, *new: str) -> str:
    """The one deprecation line, which names every part of the new spelling."""
    (line,) = deprecations(stderr)
    assert line.startswith("warning: ") and "is deprecated; use `" in line
    for part in new:
        assert part in line.split("; use ", 1)[1], (part, line)
    return line


# -- the options are shared --------------------------------------------------------------------


@pytest.mark.pi
@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_exactly_its_shared_options(command):
    expected = {option for option, commands in SHARED.items() if command in commands}
    assert expected == set(params(command)) & set(SHARED)


@pytest.mark.pi
@pytest.mark.parametrize("option", sorted(SHARED))
def test_a_shared_option_has_the_same_help_in_every_command(option):
    helps = {command: params(command)[option].help or "" for command in SHARED[option]}
    if option == "--model":  # convert's is the Keras model it converts; the rest a .tflite
        assert helps.pop("convert").startswith("The Keras model (.keras)")
    if option == "--data":  # train's is a folder of your digits (issue 12); its MNIST: --mnist
        assert helps.pop("train").startswith("A folder of your labelled digits")
        assert params("train")["--mnist"].help == HELP["--data"]
    if option == "--out":  # always a folder; each command says what it writes there
        assert all(text.startswith(HELP["--out"] + ": ") for text in helps.values()), helps
        return
    if option == "--backend":  # bench measures every installed one, whatever the variable says
        assert helps.pop("bench") == BENCH_BACKEND_HELP + REPEAT
        assert "$EDGE_DIGITS_BACKEND" in HELP["--backend"]
    assert {text.removesuffix(REPEAT) for text in helps.values()} == {HELP[option]}, helps


@pytest.mark.pi
@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_help_lists_its_shared_options_with_the_shared_text(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stdout).split())
    for option, commands in SHARED.items():
        if command in commands:
            assert option in text
            shared = HELP[option] if option != "--model" or command != "convert" else "Keras"
            if option == "--backend" and command == "bench":
                shared = BENCH_BACKEND_HELP
            assert " ".join(shared.split()) in text, (option, text)


@pytest.mark.pi
@pytest.mark.parametrize("command", ["convert", "classify", "info", "bench", "camera"])
def test_model_is_m_in_every_command(command):
    assert "-m" in params(command)["--model"].opts


# Not marked pi: it starts Python processes, which take seconds each under emulation
@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["bench", "--help"], ["info", "--help"], ["classify", "--help"]],
)
def test_help_imports_no_numpy(args):
    script = (
        "import sys; from edge_digits.runtime.cli import run; code = run(sys.argv[1:]); "
        "print('numpy' in sys.modules, code, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    )
    assert done.stderr.splitlines()[-1] == "False 0"


# -- closed choices are Enums ------------------------------------------------------------------


@pytest.mark.pi
@pytest.mark.parametrize(
    ("command", "option", "allowed"),
    [
        (["train"], "--arch", Arch),
        (["train"], "--strategy", Strategy),
        (["convert", "-m", "m.keras"], "--precision", Precision),
        (["classify", "x.png"], "--backend", Backend),
        (["camera"], "--backend", Backend),
        (["bench"], "--backend", Backend),
        (["bench"], "--xnnpack", Xnnpack),
    ],
)
def test_a_wrong_choice_exits_2_listing_the_allowed_ones(cli, command, option, allowed):
    result = cli(*command, option, "nonsense")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.errors
    names = ", ".join(f"'{choice.value}'" for choice in allowed)
    shown = "--precision' / '-p" if option == "--precision" else option  # with its short name
    assert line == (
        f"error: Invalid value for '{shown}': 'nonsense' is not one of {names}. "
        f"(see: edge-digits {command[0]} --help)"
    )


@pytest.mark.pi
def test_the_cli_choices_and_limits_are_the_runtimes():
    from edge_digits.runtime.bench.runner import MAX_BATCH_SIZE, XNNPACK_CHOICES
    from edge_digits.runtime.bench.runner import MAX_THREADS as RUNNER_MAX_THREADS
    from edge_digits.runtime.core.interpreter import BACKENDS

    assert [b.value for b in Backend] == list(BACKENDS)
    assert [x.value for x in Xnnpack] == list(XNNPACK_CHOICES)
    assert (MAX_BATCH, MAX_THREADS) == (MAX_BATCH_SIZE, RUNNER_MAX_THREADS)


@pytest.mark.train
def test_the_cli_choices_are_the_train_and_convert_packages():
    from edge_digits.convert.converter import PRECISIONS
    from edge_digits.train.architectures import ARCHITECTURES
    from edge_digits.train.training import STRATEGIES

    assert [a.value for a in Arch] == list(ARCHITECTURES)
    assert [s.value for s in Strategy] == list(STRATEGIES)
    assert [p.value for p in Precision] == list(PRECISIONS)


# -- train and convert: what reaches the library (TensorFlow stood in for) ----------------------


@pytest.fixture()
def heavy(monkeypatch, tmp_path):
    """`train` and `convert` without TensorFlow: the library call is recorded, not made."""
    calls: list[SimpleNamespace] = []
    row = SimpleNamespace(
        precision="int8", path=tmp_path / "m_int8.tflite", size_bytes=1024, accuracy=0.9,
        agreement=0.99, ece_before=0.02, ece_after=0.01,
    )  # fmt: skip
    keras_row = SimpleNamespace(**{**vars(row), "precision": "keras", "path": tmp_path / "m.keras"})

    def convert(model, precisions, **options):
        calls.append(SimpleNamespace(model=model, precisions=precisions, **options))
        return SimpleNamespace(test_images=10000, keras=keras_row, models=[row])

    def train(config, **options):
        calls.append(config)
        return SimpleNamespace(
            best_epoch=1,
            epochs_run=1,
            val_accuracy=0.9,
            test_accuracy=0.9,
            model_path="m",
            chief=True,
        )

    module = SimpleNamespace(
        convert=convert,
        train=train,
        TrainConfig=SimpleNamespace,
        refresh_report=lambda folder: None,  # convert refreshes the run's report.html
    )
    monkeypatch.setattr(cli_commands, "_heavy", lambda importer, command: module)
    return calls


@pytest.mark.pi
def test_train_passes_the_choices_as_the_library_names_them(cli, heavy, tmp_path):
    args = ["--arch", "mlp_dropout", "--strategy", "mirrored", "--out", str(tmp_path / "run")]
    result = cli("train", *args, "--mnist", str(tmp_path / "mnist.npz"), "--data", "mine")
    assert result.exit_code == 0, result.stderr
    (config,) = heavy
    assert (config.arch, config.strategy) == ("mlp_dropout", "mirrored")
    assert type(config.arch) is str and type(config.strategy) is str
    assert (config.out, config.mnist) == (tmp_path / "run", tmp_path / "mnist.npz")
    assert config.user_data == (Path("mine"),)


@pytest.mark.pi
def test_train_data_naming_a_local_mnist_is_the_old_spelling_of_mnist(cli, heavy, tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"")
    old = cli("train", "--data", str(tmp_path / "mnist.npz"), "--out", str(tmp_path / "run"))
    assert old.exit_code == 0, old.stderr
    one_deprecation(old.stderr, "edge-digits train --mnist")
    (config,) = heavy
    assert config.mnist == tmp_path / "mnist.npz" and config.user_data == ()


@pytest.mark.pi
def test_convert_takes_the_model_as_an_option_and_the_old_argument_with_a_warning(cli, heavy):
    new = cli("convert", "--model", "runs/x/model.keras", "-p", "float32", "-p", "int8")
    assert new.exit_code == 0 and deprecations(new.stderr) == []
    short = cli("convert", "-m", "runs/x/model.keras", "-p", "float32", "-p", "int8")
    assert short.exit_code == 0 and short.stdout == new.stdout
    old = cli("convert", "runs/x/model.keras", "-p", "float32", "-p", "int8")
    assert old.exit_code == 0 and old.stdout == new.stdout
    one_deprecation(old.stderr, "edge-digits convert --model runs/x/model.keras")
    assert vars(heavy[0]) == vars(heavy[1]) == vars(heavy[2])
    assert heavy[0].model == Path("runs/x/model.keras")
    assert heavy[0].precisions == ["float32", "int8"]
    assert heavy[0].out == Path("runs/x")  # --out defaults to the model's folder


@pytest.mark.pi
def test_convert_without_a_model_or_with_two_is_a_usage_error(cli, heavy):
    missing = cli("convert")
    assert missing.exit_code == 2 and "Missing option '--model' / '-m'" in missing.stderr
    twice = cli("convert", "--model", "a.keras", "b.keras")
    assert twice.exit_code == 2 and "give the model once" in twice.stderr
    assert heavy == []


# -- info and classify -------------------------------------------------------------------------


@pytest.mark.pi
def test_info_takes_the_model_as_an_option_and_the_old_argument_with_a_warning(cli, tmp_path):
    model = tmp_path / "my model.tflite"
    shutil.copyfile(EMBEDDED, model)
    shutil.copyfile(EMBEDDED.with_suffix(".json"), model.with_suffix(".json"))
    new = cli("info", "--json", "--model", str(model))
    assert new.exit_code == 0 and new.stderr == ""
    assert json.loads(new.stdout)["path"] == str(model)
    assert cli("info", "--json", "-m", str(model)).stdout == new.stdout
    old = cli("info", "--json", str(model))
    assert old.exit_code == 0 and old.stdout == new.stdout
    line = one_deprecation(old.stderr, "edge-digits info --model")
    assert line == (
        f"warning: `edge-digits info '{model}'` is deprecated; "
        f"use `edge-digits info --model '{model}'`"
    )
    assert cli("info", str(model), str(model)).exit_code == 2


@pytest.mark.pi
def test_classify_and_camera_take_the_model_as_m(cli, example_pngs):
    path, label = example_pngs[0]
    result = cli("classify", "--json", "-m", str(EMBEDDED), str(path))
    assert result.exit_code == 0 and json.loads(result.stdout)["label"] == label
    video = EXAMPLES / "camera_7_2_1.avi"
    camera = cli("camera", "--source", str(video), "-m", str(EMBEDDED), "--max-pixels", "100000")
    assert camera.exit_code == 0, camera.stderr
    assert camera.records and camera.records[0]["label"] == 7


# -- bench: the same options from the old and the new spellings ---------------------------------


MACHINE = {
    "cpu": "cpu", "cores": 1, "arch": "x", "os": "os", "python": "3", "numpy": "2",
    "edge_digits": "0", "git_commit": None, "backends": {},
}  # fmt: skip


@pytest.fixture()
def bench_options(monkeypatch):
    """What `bench` would measure, recorded instead of measured."""
    from edge_digits.runtime.bench import runner

    seen = []

    def fake(options, progress=None):
        seen.append(options)
        return runner.BenchReport("now", MACHINE, options, ())

    monkeypatch.setattr(runner, "run_benchmark", fake)
    return seen


OTHER = str(ROOT / "runtime" / "models" / "other.tflite")  # never opened: nothing is measured


@pytest.mark.pi
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([str(EMBEDDED)], ["--model", str(EMBEDDED)]),
        ([str(EMBEDDED), OTHER], ["--model", str(EMBEDDED), "--model", OTHER]),
        (["--threads", "1,2"], ["--threads", "1", "--threads", "2"]),
        (["--threads=2,4"], ["--threads", "2", "--threads", "4"]),
        (["--batch", "1, 8,64"], ["--batch", "1", "--batch", "8", "--batch", "64"]),
        (["--xnnpack", "off,on"], ["--xnnpack", "off", "--xnnpack", "on"]),
        (
            ["--backend", "tflite-runtime,litert"],
            ["--backend", "tflite-runtime", "--backend", "litert"],
        ),
        (["--data", "mnist"], ["--accuracy", "mnist"]),
        (["--data", str(EXAMPLES)], ["--accuracy", str(EXAMPLES)]),
        (["--data-path", "/no/mnist.npz"], ["--data", "/no/mnist.npz"]),
    ],
)
def test_an_old_bench_spelling_means_its_new_one_with_one_warning(cli, bench_options, old, new):
    before = cli("bench", "--json", *new)
    assert before.exit_code == 0, before.stderr
    assert deprecations(before.stderr) == []
    after = cli("bench", "--json", *old)
    assert after.exit_code == 0, after.stderr
    assert bench_options[0] == bench_options[1]
    one_deprecation(after.stderr, f"`edge-digits bench {shlex.join(new)}`")


@pytest.mark.pi
def test_the_old_data_path_is_the_mnist_of_accuracy_mnist(cli, bench_options):
    new = cli("bench", "--json", "--accuracy", "mnist", "--data", "/no/mnist.npz")
    old = cli("bench", "--json", "--data", "mnist", "--data-path", "/no/mnist.npz")
    assert new.exit_code == old.exit_code == 0
    assert bench_options[0] == bench_options[1]
    assert len(deprecations(old.stderr)) == 2  # two old spellings, one line each


@pytest.mark.pi
def test_bench_data_is_a_local_mnist_and_means_accuracy_on_it(cli, bench_options, tmp_path):
    npz = tmp_path / "mnist.npz"
    npz.write_bytes(b"")  # not read: nothing is measured
    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    for source in (npz, idx, tmp_path / "missing.npz"):
        result = cli("bench", "--json", "--data", str(source))
        assert result.exit_code == 0 and deprecations(result.stderr) == []
        assert (bench_options[-1].accuracy, bench_options[-1].data) == ("mnist", source)
    mixed = cli("bench", "--data", str(npz), "--accuracy", str(EXAMPLES))
    assert mixed.exit_code == 2 and "--data is the MNIST that `--accuracy mnist`" in mixed.stderr
    twice = cli("bench", "--data", "mnist", "--accuracy", "mnist")
    assert twice.exit_code == 2 and "--accuracy given twice" in twice.stderr


@pytest.mark.pi
def test_bench_out_is_a_folder_and_the_old_markdown_file_still_works(cli, bench_options, tmp_path):
    new = cli("bench", "--json", "--out", str(tmp_path / "runs"))
    assert new.exit_code == 0 and deprecations(new.stderr) == []
    assert new.stderr.splitlines()[-1] == f"appended to {tmp_path / 'runs' / 'bench.md'}"
    assert (tmp_path / "runs" / "bench.md").read_text().startswith("## edge-digits bench, ")
    old = cli("bench", "--json", "--out", str(tmp_path / "mine.md"))
    assert old.exit_code == 0
    one_deprecation(old.stderr, f"--out {tmp_path}", f"{tmp_path / 'bench.md'}")
    assert (tmp_path / "mine.md").read_text().startswith("## edge-digits bench, ")
    assert not (tmp_path / "bench.md").exists()


@pytest.mark.pi
def test_bench_out_names_a_file_the_old_way_and_a_folder_the_new_way(tmp_path):
    (tmp_path / "notes").write_text("an existing file, even without a suffix\n")
    (tmp_path / "runs").mkdir()
    for old in ("notes", "notes.txt", "results.md", "runs/new.md"):
        path, warnings = bench_markdown(tmp_path / old)
        assert path == tmp_path / old, old  # the old `--out FILE`: that file
        (line,) = warnings
        assert f"--out {tmp_path / old}` is deprecated; use `" in line
        assert f"appends to {(tmp_path / old).parent / 'bench.md'}" in line
    for folder in ("runs", "new", "deeper/new"):  # an existing folder, a new one without suffix
        assert bench_markdown(tmp_path / folder) == (tmp_path / folder / "bench.md", [])
    assert bench_markdown(None) == (None, [])
    assert not (tmp_path / "new").exists()  # nothing is created before the command runs


@pytest.mark.pi
@pytest.mark.parametrize("name", ["notes.txt", "notes"])
def test_bench_out_file_appends_to_that_file_with_one_warning(cli, bench_options, tmp_path, name):
    out = tmp_path / name
    if not out.suffix:
        out.write_text("# mine\n")  # an existing file, whatever its name
    result = cli("bench", "--json", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    one_deprecation(result.stderr, f"--out {tmp_path}", f"{tmp_path / 'bench.md'}")
    assert result.stderr.splitlines()[-1] == f"appended to {out}"
    assert out.is_file() and "## edge-digits bench, " in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no folder, no bench.md


# Not marked pi: bench's worker processes are slow under emulation; the spellings are parsed in the pi tests
def test_bench_new_spellings_measure_for_real(cli, tmp_path):
    copy = tmp_path / "copy.tflite"
    shutil.copyfile(EMBEDDED, copy)
    shutil.copyfile(EMBEDDED.with_suffix(".json"), copy.with_suffix(".json"))
    args = ["--json", "-m", str(EMBEDDED), "--model", str(copy), "--threads", "1", "--threads", "2"]
    result = cli("bench", *QUICK, "--backend", "litert", *args, "--accuracy", str(EXAMPLES))
    if result.exit_code == 5:
        pytest.skip("LiteRT is not installed here")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["settings"]["threads"] == [1, 2] and report["settings"]["data"] == str(EXAMPLES)
    assert [(r["model"], r["threads"]) for r in report["results"]] == [
        (str(EMBEDDED), 1), (str(EMBEDDED), 2), (str(copy), 1), (str(copy), 2),
    ]  # fmt: skip
    assert all(r["accuracy"]["accuracy"] == 1.0 for r in report["results"])


# Not marked pi: as above
def test_old_bench_spellings_measure_for_real_with_one_warning_each(cli, tmp_path):
    out = tmp_path / "old.md"
    args = ["--runs", "5", "--warmup", "1", "--batch", "1,2", "--xnnpack", "on", str(EMBEDDED)]
    result = cli("bench", *args, "--data", str(EXAMPLES), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    lines = deprecations(result.stderr)
    assert len(lines) == 4, lines  # one per old spelling: --batch, the model, --data, --out
    for new in ("--batch 1 --batch 2", "--model", "--accuracy", f"--out {tmp_path}"):
        assert sum(new in line.split("; use ", 1)[1] for line in lines) == 1, new
    assert "100.00%" in out.read_text()


def test_bench_data_alone_scores_that_mnist(cli, mnist):
    result = cli("bench", *QUICK, "--json", "--data", str(mnist.path))
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["results"]
    assert {r["accuracy"]["data"] for r in records} == {"mnist"}
    assert {r["accuracy"]["images"] for r in records} == {10000}


# -- the comma lists, before Typer -------------------------------------------------------------


@pytest.mark.pi
def test_comma_lists_are_split_only_where_they_were_lists():
    assert split_comma_lists(["bench", "--threads", "1,2"]) == (
        ["bench", "--threads", "1", "--threads", "2"],
        ["`edge-digits bench --threads 1,2` is deprecated; use "
         "`edge-digits bench --threads 1 --threads 2`"],
    )  # fmt: skip
    for args in (
        ["bench", "--threads", "1", "--batch", "8"],  # the new spelling
        ["classify", "--threads", "1,2", "x.png"],  # never a list there: Typer refuses it
        ["camera", "--roi", "1,2,3,4"],
        ["bench", "--", "--threads", "1,2"],  # after --, not options
        ["bench", "--threads"],  # a missing value: Typer says so
        ["--version"],
    ):
        assert split_comma_lists(args) == (args, [])
