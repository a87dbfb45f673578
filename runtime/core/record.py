"""One reading as JSON fields: the same names and rounding for `classify --json` and `camera`.

`classify --json` puts them between `path` and `error` (`batch.FileResult.record`); `camera`
between `time`, `t`, `frame` and `fps` (`live.sinks.camera_record`, also the web page's
`reading.json`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .number import NumberReading

DECIMALS = 6  # scores are probabilities; 6 decimals keep what float32 holds of them


def _score(score: float) -> float:
    return round(float(score), DECIMALS)


def reading_record(
    value: int | str | None,
    score: float,
    *,
    number: bool = False,
    reading: NumberReading | None = None,
    top_k: Sequence[tuple[int, float]] = (),
    reason: str | None = None,
    origin: tuple[int, int] = (0, 0),
    scored: bool = False,
    none_score: float | None = None,
) -> dict[str, Any]:
    """The fields of one reading, in this order:

    - a single digit (`number` False): `label` (`value`: the digit, or None when nothing was
      read), `score`, `top_k` (label and score of each of `top_k`, digits only) when given,
      `reason` when nothing was read and a reason is given, and `none_score` (the
      probability of the not-a-digit class) when given. When nothing was read, `score` is
      None and `top_k` left out, unless `scored`: the model was asked and answered "not a
      digit" (or below the operating point), so its scores are kept;
    - a number (`number` True; `value` is its text, None or "" when nothing was read):
      `text` (`value`), `lines` (one string per row of `reading`), `score`, `reason` (as
      above), and `digits`: `label`, `score` and `box` (x, y, width, height) of each piece of
      `reading` (label None for a piece that is not a digit), its boxes moved by `origin`
      (where the picture read lies in a larger one: the camera's region in its frame).
      `lines` and `digits` are empty when nothing was read.

    Scores are rounded to 6 decimals."""
    nothing = value is None or value == ""
    kept = not nothing or (scored and not number)  # the model's scores are shown
    record: dict[str, Any] = {}
    if number:
        record["text"] = value
        record["lines"] = list(reading.lines) if reading is not None and not nothing else []
    else:
        record["label"] = value
    record["score"] = _score(score) if kept else None
    if top_k and kept and not number:
        record["top_k"] = [{"label": label, "score": _score(s)} for label, s in top_k]
    if nothing and reason is not None:
        record["reason"] = reason
    if none_score is not None and not number:
        record["none_score"] = _score(none_score)
    if number:
        dx, dy = origin
        digits = reading.digits if reading is not None and not nothing else ()
        record["digits"] = [
            {
                "label": d.label,
                "score": _score(d.score),
                "box": [d.box[0] + dx, d.box[1] + dy, *d.box[2:]],
            }
            for d in digits
        ]
    return record
