"""`train --strategy multiworker`: two worker processes on localhost train one model; the chief
alone writes the run folder; `--resume` continues on both (issue 16)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from edge_digits.runtime.errors import UsageError
from edge_digits.train.multiworker import check_options, parse_cluster

TRAIN = ["train", "--strategy", "multiworker", "--arch", "mlp", "--limit", "512"]
TRAIN += ["--batch-size", "128"]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for one in sockets:
            one.bind(("localhost", 0))
        return [one.getsockname()[1] for one in sockets]
    finally:
        for one in sockets:
            one.close()


def start_workers(args: list[str], tmp: Path, name: str) -> list[tuple[subprocess.Popen, Path]]:
    """Both workers (1, then the chief), each with a TMPDIR of its own and a log."""
    cluster = ",".join(f"localhost:{port}" for port in free_ports(2))
    workers = []
    for index in (1, 0):
        temporary = tmp / f"{name}-tmp-{index}"
        temporary.mkdir()
        env = {**os.environ, "TMPDIR": str(temporary), "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, "-c", "from edge_digits.runtime.cli import main; main()"]
        command += [*args, "--cluster", cluster, "--task-index", str(index)]
        log = tmp / f"{name}-{index}.log"
        with open(log, "w") as file:
            process = subprocess.Popen(command, stdout=file, stderr=subprocess.STDOUT, env=env)
        workers.append((process, log))
    return workers[::-1]  # the chief first


def finish(workers: list[tuple[subprocess.Popen, Path]]) -> list[tuple[int, str]]:
    """Each worker's exit code and output, once it has ended."""
    ended = []
    for process, log in workers:
        try:
            process.wait(timeout=900)
        finally:
            process.kill()
        ended.append((process.returncode, log.read_text()))
    return ended


@pytest.mark.train
def test_two_workers_train_one_model_and_resume_after_one_stopped(tmp_path, mnist_file):
    out = tmp_path / "run"
    args = [*TRAIN, "--epochs", "3", "--mnist", str(mnist_file), "--out", str(out)]
    state_file = out / "checkpoints" / "state.json"

    # 1. Worker 1 is killed once the first epoch is checkpointed: the chief stops with one line.
    workers = start_workers(args, tmp_path, "first")
    (chief, _), (other, _) = workers
    deadline = time.monotonic() + 600
    while not state_file.exists() and chief.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    other.kill()
    (code, text), _ = finish(workers)
    assert "multi-worker training: worker 0 of 2 (the chief)" in text
    assert code == 1 and "Traceback" not in text, text[-3000:]
    assert text.rstrip().splitlines()[-1] == (
        "error: multi-worker training: worker 1 stopped; start every worker again with "
        f"--resume --out {out}"
    )
    state = json.loads(state_file.read_text())
    assert 1 <= state["epoch"] < 3

    # 2. Both started again with --resume: they go on from the last checkpoint.
    (code, chief_text), (other_code, other_text) = finish(
        start_workers([*args, "--resume"], tmp_path, "again")
    )
    assert (code, other_code) == (0, 0), chief_text[-3000:] + other_text[-3000:]
    resumed = f"resuming after epoch {state['epoch']} of 3"
    assert resumed in chief_text and resumed in other_text
    assert "multi-worker training: worker 1 of 2" in other_text
    assert "done: 3 epochs; the chief writes the run folder" in other_text
    assert "best epoch" in chief_text
    # The other worker's files went to its own temporary folder, removed at the end.
    assert list((tmp_path / "again-tmp-1").iterdir()) == []
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 3
    assert history["loss"][: state["epoch"]] == state["history"]["loss"]  # kept, not redone
    assert json.loads(state_file.read_text())["epoch"] == 3
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["strategy"] == "multiworker"
    assert record["result"]["test_accuracy"] > 0.2  # it learnt: 10% is chance


# -- the options, checked before TensorFlow starts --------------------------------------------


def test_parse_cluster():
    assert parse_cluster("10.0.0.1:12345, pi5.local:2222") == ("10.0.0.1:12345", "pi5.local:2222")
    for bad in ("10.0.0.1", "host:port", ":123", "host:99999", ","):
        with pytest.raises(UsageError, match="--cluster"):
            parse_cluster(bad)


@pytest.mark.parametrize(
    ("strategy", "cluster", "index", "tf_config", "message"),
    [
        ("default", ("a:1",), 0, None, "go with --strategy multiworker"),
        ("mirrored", (), 1, None, "go with --strategy multiworker"),
        ("multiworker", ("a:1", "b:2"), None, None, "needs --task-index"),
        ("multiworker", ("a:1", "b:2"), 2, None, "give 0 to 1"),
        ("multiworker", (), 0, None, "goes with --cluster"),
        ("multiworker", (), None, None, "needs the cluster"),
        ("multiworker", (), None, '{"cluster": {}}', "TF_CONFIG is not"),
        ("multiworker", (), None, "not json", "TF_CONFIG is not"),
    ],
)
def test_cluster_options_are_checked(monkeypatch, strategy, cluster, index, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UsageError, match=message):
        check_options(strategy, cluster, index)


def test_good_cluster_options_pass(monkeypatch):
    monkeypatch.setenv(
        "TF_CONFIG",
        '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}',
    )
    check_options("multiworker", (), None)  # from TF_CONFIG
    check_options("multiworker", ("a:1", "b:2"), 1)
    check_options("default", (), None)
