"""What the live view (`web.py`) and the review page (`review.py`) share as local web servers:
one whole answer, never cached (standard library only, so `review` loads no OpenCV)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def send_body(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    """Answer `status` with `body` of content type `kind`; browsers keep no copy."""
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    handler.wfile.write(body)
