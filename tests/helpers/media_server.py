"""A local HTTP server on 127.0.0.1 for download tests: serves a folder, counts requests, can
misbehave."""

from __future__ import annotations

import threading
import time
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(SimpleHTTPRequestHandler):
    server: _MediaServer

    def log_message(self, format: str, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.requests[self.path] += 1
        if self.path.startswith("/truncated/"):
            # Promise the whole file, send half of it and hang up: a download cut off midway.
            target = Path(self.directory) / self.path.removeprefix("/truncated/")
            data = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/members/"):
            # Only for a signed-in visitor: the cookie a browser signed in to the site would send.
            if "member=yes" not in (self.headers.get("Cookie") or ""):
                self.send_error(403, "sign in to watch")
                return
            self.path = self.path.removeprefix("/members")
        if self.path.startswith(("/slow/", "/stall/")):
            # /slow/: the file in 64 KiB pieces, 0.2 s apart; /stall/: headers, then silence.
            kind, name = self.path.strip("/").split("/", 1)
            data = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                if kind == "stall":
                    time.sleep(30)
                    return
                for start in range(0, len(data), 1 << 16):
                    self.wfile.write(data[start : start + (1 << 16)])
                    self.wfile.flush()
                    time.sleep(0.2)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        super().do_GET()


class _MediaServer(ThreadingHTTPServer):
    daemon_threads = True
    requests: Counter


class MediaServer:
    """Serve ``directory`` at ``http://127.0.0.1:<port>/`` in a background thread.

    ``/truncated/<name>`` serves half of ``<name>`` while announcing its full length;
    ``/slow/<name>`` trickles it (64 KiB every 0.2 s); ``/stall/<name>`` sends the headers and then
    nothing; ``/members/<name>`` serves it only with the cookie ``member=yes`` (else HTTP 403).
    """

    def __init__(self, directory: Path):
        handler = partial(_Handler, directory=str(directory))
        self._server = _MediaServer(("127.0.0.1", 0), handler)
        self._server.requests = Counter()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> Counter:
        return self._server.requests

    def __enter__(self) -> MediaServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
