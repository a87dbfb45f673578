"""`camera --save-crops DIR`: a sink that keeps what the model saw in each frame (see
`core/crops.py`), at most `--save-per-minute` a minute, only below `--save-below` if given."""

from __future__ import annotations

from ..core.crops import CropOptions, CropSaver
from .watch import FrameResult, Reading, to_gray


class CropSink:
    """Keeps each frame's digits: model input, crop of the frame, a manifest line."""

    def __init__(self, options: CropOptions, source: str) -> None:
        self.saver = CropSaver(options)
        self.source = source

    def frame(self, result: FrameResult, fps: float, reading: Reading | None) -> None:
        x0, y0 = result.roi[0], result.roi[1]
        source = f"{self.source}#{result.frame.index}"
        found = []  # (input, box in frame pixels, label, score)
        if result.number is not None:
            for digit in result.number.digits:
                if digit.inputs is not None:
                    x, y, w, h = digit.box
                    found.append((digit.inputs, (x + x0, y + y0, w, h), digit.label, digit.score))
        elif result.trace is not None and result.trace.inputs:
            trace = result.trace
            x, y, w, h = trace.boxes[0] if trace.boxes else (0, 0, result.roi[2], result.roi[3])
            label = result.value if isinstance(result.value, int) else None
            found.append((trace.inputs[0], (x + x0, y + y0, w, h), label, result.score))
        gray = None
        for model_input, box, label, score in found:
            if not self.saver.wanted(score):
                continue
            gray = to_gray(result.frame.image) if gray is None else gray
            self.saver.save(model_input, gray, source=source, box=box, label=label, score=score)

    def reading(self, reading: Reading) -> None:
        pass

    def close(self) -> None:
        pass
