"""pi/compare.py, which `make pi-test` uses to hold the emulated Pi's answers to x86's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEVEN = {"path": "a.jpg", "label": 7, "score": 0.971624,
         "top_k": [{"label": 7, "score": 0.971624}, {"label": 3, "score": 0.000952}],
         "none_score": 0.027193}  # fmt: skip
TWO = {"path": "b.png", "label": 2, "score": 0.999, "top_k": [{"label": 2, "score": 0.999}]}


def compare(tmp_path: Path, ours: list[dict], theirs: list[dict]) -> tuple[int, str]:
    for name, records in (("x86", ours), ("pi", theirs)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    done = subprocess.run(
        [sys.executable, str(ROOT / "pi" / "compare.py"), str(tmp_path / "x86.jsonl"),
         str(tmp_path / "pi.jsonl")], capture_output=True, text=True,
    )  # fmt: skip
    return done.returncode, done.stdout.strip()


def nudged(record: dict, by: float) -> dict:
    moved = json.loads(json.dumps(record))
    moved["score"] += by
    moved["top_k"][0]["score"] += by
    return moved


def test_identical_answers_pass(tmp_path):
    assert compare(tmp_path, [SEVEN, TWO], [SEVEN, TWO]) == (0, "2/2 answers identical to x86")


def test_scores_a_little_apart_pass_and_say_how_far(tmp_path):
    code, line = compare(tmp_path, [SEVEN, TWO], [nudged(SEVEN, 0.00002), TWO])
    assert code == 0
    assert line == (
        "1/2 answers identical to x86, the other 1 the same labels with scores within 0.000020"
    )


def test_another_label_or_a_score_far_apart_fails(tmp_path):
    other = dict(TWO, label=3, top_k=[{"label": 3, "score": 0.999}])
    code, line = compare(tmp_path, [SEVEN, TWO], [SEVEN, other])
    assert code == 1 and line.startswith("1 of 2 answers DIFFER from x86 (b.png; diff ")
    code, line = compare(tmp_path, [SEVEN, TWO], [nudged(SEVEN, 0.01), TWO])
    assert code == 1 and line.startswith("1 of 2 answers DIFFER from x86 (a.jpg; diff ")
    code, line = compare(tmp_path, [SEVEN, TWO], [SEVEN])
    assert code == 1 and line.startswith("1 answers where x86 gave 2")
