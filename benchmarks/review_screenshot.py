"""The README's picture of `edge-digits review`: the crops benchmarks/own_digits.py kept,
half of the first rows labelled, in headless Chromium (tests/browser.py's DevTools client).

    .venv/bin/python benchmarks/review_screenshot.py   # after benchmarks/own_digits.py
"""

from __future__ import annotations

import base64
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from edge_digits.runtime.live.review import Review, serve
from environment import RESULTS, ROOT

sys.path.insert(0, str(ROOT / "tests"))
from browser import Browser


def main() -> None:
    crops = ROOT / "runs" / "own_digits" / "crops"
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "crops"
        shutil.copytree(crops, folder, ignore=shutil.ignore_patterns("labels.csv"))
        server = serve(Review(folder), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        browser = Browser.start()
        if browser is None:
            sys.exit("needs Chromium")
        with browser:
            page = browser.open(f"http://127.0.0.1:{server.server_address[1]}/")
            browser.call(
                "Emulation.setDeviceMetricsOverride", page.session, width=1000, height=560,
                deviceScaleFactor=1, mobile=False,
            )  # fmt: skip
            page.wait_for("document.body.dataset.ready === '1'")
            page.wait_for("[...document.images].every(i => i.complete)")
            for _ in range(5):  # the first five labelled from the keyboard, as a user would:
                source = page.evaluate("items[sel].source")  # the digit the picture shows
                page.press(Path(source).parent.name)
            shot = browser.call("Page.captureScreenshot", page.session, format="png")
        server.shutdown()
        server.server_close()
    path = RESULTS / "own_digits_review.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
