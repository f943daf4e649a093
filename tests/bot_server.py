"""A bot's messaging endpoint on 127.0.0.1, in a thread, for the push tests: it counts every
POST, fails the first ones with 503, and keeps the JSON bodies it accepted."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any


class BotServer:
    """A bot's endpoint on 127.0.0.1 that fails its first `failures` POSTs with 503."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.received: list[Any] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                owner.attempts += 1
                ok = owner.attempts > owner.failures
                if ok:
                    owner.received.append(json.loads(body))
                self.send_response(200 if ok else 503)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/api/messages"

    def __enter__(self) -> BotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(timeout=5)
