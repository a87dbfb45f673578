"""`edge-digits review DIR`: label the crops `--save-crops` kept, in a local web page.

The page (no external assets) shows the crops in a grid, the least sure first, each with
the model's guess. A key labels the selected crop and moves on: 0-9, `n` not a digit
(`none`), `x` drop (reviewed, not to train on); the arrows move; a click selects, and the
buttons label. Each label is saved at once to DIR/labels.csv (``file,label``), rewritten
atomically: a kill loses at most the label being given, and reopening continues where it
stopped. Rows of labels.csv whose files the manifest does not list are kept as they are.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..core.crops import read_manifest
from ..errors import DataError, UsageError, one_line
from ..files.atomic import atomic_write_text
from .pages import send_body

LABELS_CSV = "labels.csv"
LABELS = (*(str(d) for d in range(10)), "none", "drop")
DEFAULT_PORT = 8765
MAX_BODY = 4096


def read_labels(folder: Path) -> dict[str, str]:
    """DIR/labels.csv as {file: label}, in its order (empty when there is none)."""
    path = folder / LABELS_CSV
    if not path.exists():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: cannot be read ({' '.join(str(error).split())[:120]})") from None
    labels = {}
    for number, row in enumerate(rows, start=1):
        if number == 1 and row[:2] == ["file", "label"]:
            continue
        if len(row) >= 2 and row[0]:
            labels[row[0]] = row[1]
    return labels


class Review:
    """The crops of one folder and their labels; `give` saves each label as it comes."""

    def __init__(self, folder: Path, echo: Callable[[str], None] = lambda line: None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: not a folder; give the DIR of --save-crops DIR")
        try:
            records, problems = read_manifest(self.folder)
        except OSError as error:
            raise DataError(f"{self.folder}: cannot be read ({error.strerror or error})") from None
        for problem in problems:
            echo(f"warning: {problem}")
        if not records:
            raise DataError(
                f"{self.folder}: no crops to review (no manifest.jsonl with crops); "
                "keep some with `edge-digits classify --save-crops DIR` or `camera --save-crops DIR`"
            )
        seen: set[str] = set()
        unique = []
        for record in records:
            if record["input"] not in seen:
                seen.add(record["input"])
                unique.append(record)
        # The least sure first; the manifest's order among equals.
        self.items = sorted(unique, key=lambda record: float(record.get("score") or 0.0))
        self.files = {str(record["input"]) for record in self.items} | {
            str(record.get("crop")) for record in self.items if record.get("crop")
        }
        self.labels = read_labels(self.folder)
        self._lock = threading.Lock()

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "file": record["input"],
                "crop": record.get("crop") or record["input"],
                "guess": record.get("label"),
                "score": record.get("score"),
                "source": record.get("source"),
                "given": self.labels.get(str(record["input"])),
            }
            for record in self.items
        ]

    def give(self, file: str, label: str) -> None:
        """Label `file` (a crop of the manifest) and save labels.csv atomically."""
        if label not in LABELS and label != "":
            raise UsageError(f"unknown label {label!r}; allowed: {', '.join(LABELS)}")
        if file not in {str(record["input"]) for record in self.items}:
            raise UsageError(f"{file}: not a crop of {self.folder}")
        with self._lock:
            if label:
                self.labels[file] = label
            else:
                self.labels.pop(file, None)  # taken back
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(["file", "label"])
            writer.writerows(self.labels.items())
            atomic_write_text(self.folder / LABELS_CSV, text.getvalue())


def serve(review: Review, host: str, port: int) -> ThreadingHTTPServer:
    """A server for the page (not yet serving: call `serve_forever`)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, kind: str) -> None:
            send_body(self, status, body, kind)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/items":
                body = json.dumps(review.listing()).encode()
                self._send(HTTPStatus.OK, body, "application/json")
            elif path.startswith("/img/") and path[5:] in review.files:
                try:
                    data = (review.folder / path[5:]).read_bytes()
                except OSError:
                    self._send(HTTPStatus.NOT_FOUND, b"gone", "text/plain")
                    return
                self._send(HTTPStatus.OK, data, "image/png")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

        def do_POST(self) -> None:
            if self.path != "/label":
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= MAX_BODY:
                    raise ValueError("body size")
                given = json.loads(self.rfile.read(length))
                review.give(str(given["file"]), str(given["label"]))
            except (ValueError, KeyError, TypeError, UsageError) as error:
                self._send(HTTPStatus.BAD_REQUEST, str(error).encode(), "text/plain")
                return
            except OSError as error:  # the disk: the page says so, the label is not lost
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, str(error).encode(), "text/plain")
                return
            self._send(HTTPStatus.OK, b'{"ok": true}', "application/json")

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A browser closing a connection mid-answer is not an error; anything else is
            # one line, never a traceback.
            error = sys.exc_info()[1]
            if error is not None and not isinstance(error, ConnectionError):
                sys.stderr.write(f"warning: review: {one_line(error)}\n")

    try:
        server = Server((host, port), Handler)
    except OSError as error:
        raise UsageError(
            f"cannot serve on {host}:{port} ({error.strerror or error}); give another --port"
        ) from None
    return server


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge-digits review</title>
<style>
body{font-family:sans-serif;margin:0;background:#f4f4f4}
header{position:sticky;top:0;background:#222;color:#eee;padding:8px 12px;z-index:1}
header button{margin:0 2px;min-width:2.2em}
#grid{display:flex;flex-wrap:wrap;gap:8px;padding:12px}
.card{width:120px;background:#fff;border:3px solid #ddd;border-radius:6px;padding:4px;
 cursor:pointer;text-align:center;font-size:13px}
.card.sel{border-color:#07f}
.card.done{background:#e8f6e8}.card.dropped{opacity:.45}
.card img.crop{width:110px;height:110px;object-fit:contain;image-rendering:pixelated;background:#000}
.card img.input{width:28px;height:28px;image-rendering:pixelated;vertical-align:middle}
.given{font-weight:bold;font-size:18px}
#error{color:#f66}
</style></head><body>
<header>
<span id="count"></span> &middot; keys: 0-9 label, n not a digit, x drop, arrows move &middot;
<span id="buttons"></span> <span id="error"></span>
</header>
<div id="grid"></div>
<script>
"use strict";
let items = [], sel = 0, queue = Promise.resolve();
const grid = document.getElementById("grid");
function show(label) { return label === "none" ? "not a digit" : label; }
function render(i) {
  const it = items[i], card = grid.children[i];
  card.className = "card" + (i === sel ? " sel" : "") + (it.given ? " done" : "") +
    (it.given === "drop" ? " dropped" : "");
  card.querySelector(".given").textContent = it.given ? show(it.given) : "\\u00a0";
}
function count() {
  const done = items.filter(it => it.given).length;
  document.getElementById("count").textContent = done + " of " + items.length + " labelled";
}
function select(i) {
  const old = sel; sel = Math.max(0, Math.min(items.length - 1, i));
  render(old); render(sel);
  grid.children[sel].scrollIntoView({block: "nearest"});
}
function give(label) {
  const it = items[sel]; if (!it) return;
  it.given = label; render(sel); count();
  const body = JSON.stringify({file: it.file, label: label});
  queue = queue.then(() => fetch("/label", {method: "POST", body: body,
      headers: {"Content-Type": "application/json"}}))
    .then(r => { if (!r.ok) throw new Error("not saved: " + r.status); })
    .catch(e => { document.getElementById("error").textContent = String(e); });
  select(sel + 1);
}
function columns() {
  const first = grid.children[0].offsetTop; let n = 0;
  while (n < grid.children.length && grid.children[n].offsetTop === first) n++;
  return Math.max(1, n);
}
document.addEventListener("keydown", e => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (/^[0-9]$/.test(e.key)) give(e.key);
  else if (e.key === "n") give("none");
  else if (e.key === "x") give("drop");
  else if (e.key === "ArrowRight") select(sel + 1);
  else if (e.key === "ArrowLeft") select(sel - 1);
  else if (e.key === "ArrowDown") select(sel + columns());
  else if (e.key === "ArrowUp") select(sel - columns());
  else return;
  e.preventDefault();
});
const labels = ["0","1","2","3","4","5","6","7","8","9","none","drop"];
for (const label of labels) {
  const b = document.createElement("button");
  b.textContent = label === "none" ? "not a digit" : label;
  b.addEventListener("click", () => give(label));
  document.getElementById("buttons").appendChild(b);
}
fetch("/items").then(r => r.json()).then(list => {
  items = list;
  items.forEach((it, i) => {
    const card = document.createElement("div");
    const guess = it.guess === null || it.guess === undefined ? "?" : it.guess;
    const score = typeof it.score === "number" ? it.score.toFixed(2) : "";
    card.innerHTML = '<img class="crop" alt=""><br><img class="input" alt=""> guess ' +
      '<b class="guess"></b> <span class="score"></span><div class="given"></div>';
    card.querySelector(".crop").src = "/img/" + encodeURIComponent(it.crop);
    card.querySelector(".input").src = "/img/" + encodeURIComponent(it.file);
    card.querySelector(".guess").textContent = guess;
    card.querySelector(".score").textContent = score;
    card.addEventListener("click", () => select(i));
    grid.appendChild(card);
  });
  const next = items.findIndex(it => !it.given);
  sel = next < 0 ? 0 : next;
  items.forEach((_, i) => render(i)); count();
  if (items.length) grid.children[sel].scrollIntoView({block: "nearest"});
  document.body.dataset.ready = "1";
});
</script></body></html>
"""
