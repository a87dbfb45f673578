"""The emulated Pi's answers against this machine's: `classify --json --top-k 3` records, one
per line, in the same order.

Every answer must give the same labels (its label, its top-k labels in order, its reason) and
scores within SCORE_TOLERANCE of x86's; the line says how many are byte for byte the same.
The model's logits are dequantised and put through softmax in float32, so the smallest
difference upstream shows in a score: the answers on PNGs are identical, while three JPEG
photos' scores differ by up to 0.00025 (one of them in its none score, so its model input
differed; whether JPEG decoding, preprocessing or float arithmetic on ARM was not traced).

    python pi/compare.py X86.jsonl PI.jsonl     (exit 0: the same answers; 1: not)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCORE_TOLERANCE = 0.005


def scores(record: dict) -> list[float]:
    found = [record.get("score"), record.get("none_score")]
    found += [entry["score"] for entry in record.get("top_k", [])]
    return [value for value in found if value is not None]


def labels(record: dict) -> tuple:
    top = tuple(entry["label"] for entry in record.get("top_k", []))
    return record.get("path"), record.get("label"), record.get("reason"), top


def main(reference: Path, emulated: Path) -> int:
    ours = reference.read_text().splitlines()
    theirs = emulated.read_text().splitlines()
    if len(ours) != len(theirs):
        print(f"{len(theirs)} answers where x86 gave {len(ours)} (diff {reference} {emulated})")
        return 1
    identical, worst, differ = 0, 0.0, []
    for line, other in zip(ours, theirs, strict=True):
        if line == other:
            identical += 1
            continue
        a, b = json.loads(line), json.loads(other)
        apart = max((abs(x - y) for x, y in zip(scores(a), scores(b), strict=False)), default=0.0)
        worst = max(worst, apart)
        if labels(a) != labels(b) or len(scores(a)) != len(scores(b)) or apart > SCORE_TOLERANCE:
            differ.append(a.get("path"))
    count = len(ours)
    if differ:
        print(f"{len(differ)} of {count} answers DIFFER from x86 ({', '.join(differ[:3])}; "
              f"diff {reference} {emulated})")  # fmt: skip
        return 1
    line = f"{identical}/{count} answers identical to x86"
    if identical < count:
        line += f", the other {count - identical} the same labels with scores within {worst:.6f}"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
