"""`--save-crops` and `edge-digits review`: crops kept atomically by several writers, labelled
in the page in headless Chromium with real key presses, labels.csv read back."""

from __future__ import annotations

import csv
import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from browser import Browser, find_chromium
from edge_digits.runtime.core.crops import MANIFEST, CropOptions, CropSaver, read_manifest
from edge_digits.runtime.live.review import Review, serve

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="needs Chromium (.ci/run)")


def _keep(folder: Path, scores: list[float], label: int = 3) -> list[str]:
    saver = CropSaver(CropOptions(folder))
    picture = np.zeros((40, 60), np.uint8)
    names = []
    for i, score in enumerate(scores):
        model_input = np.zeros((28, 28), np.float32)
        model_input[4 + i % 20, 4:24] = 1.0
        name = saver.save(
            model_input, picture, source=f"pic{i}.png", box=(10, 5, 20, 30), label=label,
            score=score,
        )  # fmt: skip
        assert name is not None
        names.append(name)
    return names


def _labels(folder: Path) -> dict[str, str]:
    if not (folder / "labels.csv").exists():
        return {}  # no label saved yet
    with open(folder / "labels.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["file", "label"]
    return {row[0]: row[1] for row in rows[1:]}


def test_a_crop_is_an_input_png_a_crop_and_a_manifest_line(tmp_path):
    [name] = _keep(tmp_path, [0.5])
    import cv2

    assert cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_UNCHANGED).shape == (28, 28)
    # the box (10, 5, 20, 30) with a margin of 15% of its longer side (4 px)
    assert cv2.imread(str(tmp_path / f"{name}-crop.png"), cv2.IMREAD_UNCHANGED).shape == (38, 28)
    [record] = [json.loads(line) for line in (tmp_path / MANIFEST).read_text().splitlines()]
    assert record["source"] == "pic0.png" and record["box"] == [10, 5, 20, 30]
    assert record["label"] == 3 and record["score"] == 0.5 and record["time"].endswith("Z")
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_save_below_and_per_minute(tmp_path):
    now = [1000.0]
    options = CropOptions(tmp_path, below=0.9, per_minute=2)
    saver = CropSaver(options, clock=lambda: now[0])
    model_input, picture = np.zeros((28, 28), np.float32), np.zeros((10, 10), np.uint8)
    kept = [saver.save(model_input, picture, source="s", box=(0, 0, 5, 5), label=1, score=s)
            for s in (0.95, 0.5, 0.5, 0.5)]  # fmt: skip
    assert [k is not None for k in kept] == [False, True, True, False]
    now[0] += 60.0
    assert saver.save(model_input, picture, source="s", box=(0, 0, 5, 5), label=1, score=0.1)


def _writer(folder: str, count: int) -> None:
    _keep(Path(folder), [0.5] * count)


def test_a_folder_shared_by_two_cameras(tmp_path):
    """Two processes writing one folder at once: every crop kept, names unique, whole lines."""
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(str(tmp_path), 40)) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    records, problems = read_manifest(tmp_path)
    assert not problems and len(records) == 80
    assert len({record["input"] for record in records}) == 80
    assert len(list(tmp_path.glob("*-crop.png"))) == 80


def test_a_manifest_line_whose_file_is_gone_is_one_warning(tmp_path):
    names = _keep(tmp_path, [0.2, 0.4])
    (tmp_path / f"{names[0]}.png").unlink()
    (tmp_path / MANIFEST).open("a").write("not json\n")
    said: list[str] = []
    review = Review(tmp_path, echo=said.append)
    assert [item["file"] for item in review.listing()] == [f"{names[1]}.png"]
    assert len(said) == 2 and "is missing" in said[0] and "not a manifest record" in said[1]


def test_an_empty_folder_is_one_line(tmp_path):
    from edge_digits.runtime.errors import DataError

    with pytest.raises(DataError, match="no crops to review"):
        Review(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        Review(tmp_path / "nowhere")


@pytest.fixture()
def served(tmp_path) -> Iterator[tuple[Path, str]]:
    # scores out of order: the page shows the least sure first
    names = _keep(tmp_path, [0.9, 0.1, 0.5, 0.3])
    (tmp_path / "order.json").write_text(json.dumps([names[1], names[3], names[2], names[0]]))
    review = Review(tmp_path)
    server = serve(review, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@needs_chromium
def test_labelling_from_the_keyboard_in_chromium(served):
    folder, url = served
    order = [f"{name}.png" for name in json.loads((folder / "order.json").read_text())]
    browser = Browser.start()
    assert browser is not None
    with browser:
        page = browser.open(url)
        page.wait_for("document.body.dataset.ready === '1'")
        assert page.evaluate("items.map(it => it.file)") == order
        for key in ("7", "n", "x"):
            page.press(key)
        page.press("ArrowLeft")  # back to the one dropped: label it after all
        page.press("4")
        page.wait_for("document.querySelectorAll('.card.done').length === 3")
        page.click(".card:nth-child(4)")  # a click selects, a button labels
        page.click("#buttons button:nth-child(2)")
        page.wait_for("items[3].given === '1'")
        expected = {order[0]: "7", order[1]: "none", order[2]: "4", order[3]: "1"}
        deadline = time.monotonic() + 10
        while _labels(folder) != expected and time.monotonic() < deadline:
            time.sleep(0.05)  # the page posts each label in order
    assert _labels(folder) == expected

    # Reopening continues where it stopped: the page selects the first crop without a label.
    review = Review(folder)
    assert [item["given"] for item in review.listing()] == ["7", "none", "4", "1"]


def test_camera_keeps_at_most_save_per_minute(tmp_path):
    from edge_digits.runtime.live.run import LiveOptions, run_camera

    video = Path(__file__).resolve().parents[1] / "examples" / "camera_7_2_1.avi"
    options = LiveOptions(source=str(video), save_crops=CropOptions(tmp_path, per_minute=3))
    summary = run_camera(options)
    records, problems = read_manifest(tmp_path)
    assert summary.frames > 3 and not problems and len(records) == 3
    for record in records:
        assert record["source"].startswith(f"{video}#")
        x, y, width, height = record["box"]
        assert x >= 0 and y >= 0 and width > 0 and height > 0
        assert (tmp_path / record["crop"]).is_file()


def _post(url: str, file: str, label: str) -> int:
    import urllib.request

    body = json.dumps({"file": file, "label": label}).encode()
    request = urllib.request.Request(url + "label", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_a_killed_review_loses_no_label_it_acknowledged(tmp_path):
    """`edge-digits review` killed (SIGKILL) while labels arrive: labels.csv is whole and
    holds every label the server had answered; reopening continues from there."""
    import signal
    import socket
    import subprocess
    import sys
    import urllib.error

    names = [f"{name}.png" for name in _keep(tmp_path, [i / 100 for i in range(60)])]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = Path(sys.executable).parent / "edge-digits"
    command = [str(script), "review", str(tmp_path), "--port", str(port)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            _post(url, names[0], "5")
            break
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline and server.poll() is None, "review did not start"
            time.sleep(0.1)
    acknowledged = {names[0]: "5"}
    for name in names[1:40]:
        assert _post(url, name, "7") == 200
        acknowledged[name] = "7"
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    assert _labels(tmp_path) == acknowledged
    assert not [path for path in tmp_path.iterdir() if ".tmp" in path.name]
    again = Review(tmp_path)
    assert [item["given"] for item in again.listing()] == ["5"] + ["7"] * 39 + [None] * 20


def test_labels_are_checked(tmp_path):
    from edge_digits.runtime.errors import UsageError

    [name] = _keep(tmp_path, [0.5])
    review = Review(tmp_path)
    with pytest.raises(UsageError, match="unknown label"):
        review.give(f"{name}.png", "seven")
    with pytest.raises(UsageError, match="not a crop"):
        review.give("../etc/passwd", "1")
    review.give(f"{name}.png", "1")
    review.give(f"{name}.png", "")  # taken back
    assert _labels(tmp_path) == {}


@needs_chromium
def test_a_hundred_crops_from_the_keyboard_alone(tmp_path):
    _keep(tmp_path, [i / 1000 for i in range(100)])
    server = serve(Review(tmp_path), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    keys = [str(i % 10) if i % 7 else "n" for i in range(100)]
    try:
        browser = Browser.start()
        assert browser is not None
        with browser:
            page = browser.open(f"http://127.0.0.1:{server.server_address[1]}/")
            page.wait_for("document.body.dataset.ready === '1'")
            order = page.evaluate("items.map(it => it.file)")
            for key in keys:
                page.press(key)
            deadline = time.monotonic() + 20
            while len(_labels(tmp_path)) < 100 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    expected = {
        name: ("none" if key == "n" else key) for name, key in zip(order, keys, strict=True)
    }
    assert _labels(tmp_path) == expected
