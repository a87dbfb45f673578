"""Atomic writes, the pair publisher and its lock, and leftovers of killed writers."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from edge_digits.runtime.errors import OutputError
from edge_digits.runtime.files import atomic
from edge_digits.runtime.files.atomic import (
    atomic_pair,
    atomic_path,
    atomic_write_text,
    ensure_output_dir,
    folder_lock,
    is_temporary,
    remove_stale_temporaries,
)
from edge_digits.runtime.files.paths import expand_paths


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(done.stdout)


def test_atomic_path_writes_beside_the_target_under_a_temporary_name(tmp_path):
    target = tmp_path / "sub" / "model.keras"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".keras"
        assert tmp.name.startswith(".model.tmp-") and is_temporary(tmp)
        assert not target.exists()
        tmp.write_bytes(b"complete")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in target.parent.iterdir()] == ["model.keras"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "history.json"
    target.write_text("old")
    with pytest.raises(type(error)), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise error
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]


def test_an_os_error_while_writing_is_an_output_error(tmp_path):
    message = r"report\.html: cannot write .*nothing was changed"
    with pytest.raises(OutputError, match=message), atomic_path(tmp_path / "report.html"):
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_is_temporary_knows_only_its_own_names():
    assert is_temporary(Path(".model_int8.tmp-123-abcd_123.tflite"))
    assert is_temporary(Path(".mnist.tmp-9-zzzzzzzz.sha256"))
    assert is_temporary(Path("/x/.state.tmp-77-a1b2c3d4.json"))
    for name in (
        "model.tflite",
        ".hidden.png",
        "model.tmp-1-abcdefgh.png",
        ".a.tmp-x-abcdefgh.png",
    ):
        assert not is_temporary(Path(name)), name


def test_stale_temporaries_are_removed_live_ones_and_other_files_kept(tmp_path):
    dead, alive = dead_pid(), os.getpid()
    stale = tmp_path / f".model.tmp-{dead}-abcdefgh.keras"
    live = tmp_path / f".model.tmp-{alive}-abcdefgh.keras"
    mine = [tmp_path / ".hidden", tmp_path / "model.keras", tmp_path / f"x.tmp-{dead}-abcdefgh.png"]
    for path in (stale, live, *mine):
        path.write_text("x")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(tmp_path.iterdir()) == sorted([live, *mine])


def test_ensure_output_dir_creates_checks_and_cleans(tmp_path):
    folder = tmp_path / "a" / "b"
    assert ensure_output_dir(folder) == folder and list(folder.iterdir()) == []
    stale = folder / f".curves.tmp-{dead_pid()}-abcdefgh.png"
    stale.write_bytes(b"\x89PNG half")
    ensure_output_dir(folder)
    assert list(folder.iterdir()) == []


def test_ensure_output_dir_refuses_an_unwritable_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot write here"):
        ensure_output_dir(blocker / "run")


def test_classify_skips_temporaries_in_folders(tmp_path):
    (tmp_path / "seven.png").write_bytes(b"x")
    (tmp_path / f".seven.tmp-{dead_pid()}-abcdefgh.png").write_bytes(b"x")
    assert expand_paths([tmp_path]) == [tmp_path / "seven.png"]


# --------------------------------------------------------------------------- pairs


def _write_pair(model: Path, content: bytes) -> None:
    with atomic_pair(model, model.with_suffix(".json")) as (model_tmp, sidecar_tmp):
        assert sidecar_tmp == model_tmp.with_suffix(".json")  # the Classifier finds it so
        model_tmp.write_bytes(content)
        sidecar_tmp.write_text(hashlib.sha256(content).hexdigest())


def _pair_matches(model: Path) -> bool:
    """A model under its final name has its own sidecar; a sidecar alone is allowed."""
    if not model.exists():
        return True
    sidecar = model.with_suffix(".json")
    return (
        sidecar.exists() and sidecar.read_text() == hashlib.sha256(model.read_bytes()).hexdigest()
    )


def test_atomic_pair_publishes_both(tmp_path):
    model = tmp_path / "m.tflite"
    _write_pair(model, b"one")
    _write_pair(model, b"two")
    assert model.read_bytes() == b"two" and _pair_matches(model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.tflite"]


def test_atomic_pair_refuses_pairs_it_cannot_publish_together(tmp_path):
    with pytest.raises(ValueError), atomic_pair(tmp_path / "a.json", tmp_path / "b" / "a.txt"):
        pass
    with pytest.raises(ValueError), atomic_pair(tmp_path / "a.json", tmp_path / "b.json"):
        pass


@pytest.mark.parametrize("kill_at", range(3))
def test_a_kill_at_any_step_of_publishing_never_leaves_a_mismatched_pair(
    tmp_path, monkeypatch, kill_at
):
    """Stop the publication before each of its file-system steps (the effect of SIGKILL
    there): the old pair, a sidecar alone, or the new pair; never a mix."""
    model = tmp_path / "m.tflite"
    _write_pair(model, b"old model")
    steps = []

    class Killed(BaseException):
        pass

    def step(real):
        def run(*args, **kwargs):
            if len(steps) == kill_at:
                raise Killed
            steps.append(real.__name__)
            return real(*args, **kwargs)

        return run

    monkeypatch.setattr(atomic.os, "replace", step(os.replace))
    monkeypatch.setattr(atomic.Path, "unlink", step(Path.unlink))
    with pytest.raises(Killed):
        _write_pair(model, b"new model")
    monkeypatch.undo()
    assert _pair_matches(model)
    assert (model.read_bytes() if model.exists() else None) in (b"old model", None)


_PUBLISHER = """
import hashlib, sys
from pathlib import Path
from edge_digits.runtime.files.atomic import atomic_pair
model, tag, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(count):
    content = f"{tag} {i} ".encode() * 200
    with atomic_pair(model, model.with_suffix(".json")) as (m, s):
        m.write_bytes(content)
        s.write_text(hashlib.sha256(content).hexdigest())
"""


def test_two_processes_publishing_the_same_pair_never_mix(tmp_path):
    """Two writers publish 150 pairs each into one folder while this test, holding the same
    lock, checks the pair again and again: every state it sees is a matched pair."""
    model = tmp_path / "m.tflite"
    writers = [
        subprocess.Popen([sys.executable, "-c", _PUBLISHER, str(model), tag, "150"])
        for tag in ("a", "b")
    ]
    checks = 0
    while any(writer.poll() is None for writer in writers):
        with folder_lock(tmp_path):
            assert _pair_matches(model)
        checks += 1
        time.sleep(0.001)
    assert [writer.returncode for writer in writers] == [0, 0]
    assert _pair_matches(model) and model.exists() and checks > 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.tflite"]


def test_killed_publishers_leave_matched_pairs_and_cleanable_temporaries(tmp_path):
    model = tmp_path / "m.tflite"
    rng = random.Random(3)
    for round_ in range(8):
        before = _inode(model)
        writer = subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, str(model), str(round_), "100000"]
        )
        while _inode(model) == before and writer.poll() is None:  # until it has published
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.02))
        writer.send_signal(signal.SIGKILL)
        assert writer.wait() == -signal.SIGKILL
        assert _pair_matches(model)
    remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) in (["m.json", "m.tflite"], ["m.json"])


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def test_folder_lock_makes_a_second_holder_wait(tmp_path):
    order = []

    def second():
        with folder_lock(tmp_path):
            order.append("second")

    with folder_lock(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
        order.append("first done")
    thread.join(5)
    assert order == ["first done", "second"]


def test_atomic_write_text_replaces_whole_files(tmp_path):
    path = tmp_path / "run.json"
    atomic_write_text(path, "{}\n")
    atomic_write_text(path, '{"a": 1}\n')
    assert path.read_text() == '{"a": 1}\n'


def test_atomic_path_onto_a_hard_link_of_the_same_file_leaves_no_temporary(tmp_path):
    source, target = tmp_path / "epoch-003.keras", tmp_path / "best.keras"
    source.write_bytes(b"weights")
    os.link(source, target)
    with atomic_path(target) as tmp:
        tmp.unlink()
        os.link(source, tmp)  # rename(2) of a link onto its twin is a no-op
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras", "epoch-003.keras"]
