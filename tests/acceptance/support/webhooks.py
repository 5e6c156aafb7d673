"""Support for the webhook and Wiro acceptance tests: a loopback webhook receiver whose
answers are scripted per path, keys created through ``framecast keys create`` with their
secrets, and the static key's webhook secret.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.acceptance.support.server import Server

HOLD = "hold"            # a scripted answer: keep the request open, never answer it
REDIRECT_TARGET = "/redirected-here"


@dataclass
class Hit:
    """One request the receiver got, and what it answered (None: held, no answer)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        """Whether it was answered 2xx (a delivery the sender counts as done)."""
        return self.answered is not None and 200 <= self.answered < 300


class Receiver:
    """A threaded HTTP server on 127.0.0.1 recording every request. Each path answers from
    its script (status codes, or ``HOLD``), then 200 once the script is spent. A 3xx answer
    points at ``REDIRECT_TARGET``."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._scripts: dict[str, list[int | str]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def do_GET(self) -> None:
                receiver._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The receiver's port."""
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: int | str) -> None:
        """What ``path`` answers next, in order."""
        with self._lock:
            self._scripts[path] = list(answers)

    def at(self, path: str) -> list[Hit]:
        """Every request to ``path``."""
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def wait_for(self, condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
        """Poll ``condition`` until truthy; fail with ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout_s:g} s: {what}; got "
                                     f"{[(h.path, h.answered) for h in self.hits]}")
            time.sleep(0.05)

    def close(self) -> None:
        """Release held requests and stop the server."""
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = handler.path.split("?")[0]
        with self._lock:
            script = self._scripts.get(path) or []
            answer = script.pop(0) if script else 200
            hit = Hit(handler.command, path, {k.lower(): v for k, v in handler.headers.items()},
                      body, None if answer == HOLD else int(answer))
            self.hits.append(hit)
        if answer == HOLD:
            self._release.wait(120)
            handler.close_connection = True
            return
        handler.send_response(int(answer))
        if 300 <= int(answer) < 400:
            handler.send_header("Location", REDIRECT_TARGET)
        reply = f'{{"received": "{hit.headers.get("webhook-id", "")}"}}'.encode()
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver for the duration of a block."""
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


@dataclass
class Key:
    """A key made by ``framecast keys create`` and the secrets it printed."""

    key: str
    key_id: str
    signing_secret: str
    wiro_secret: str | None = None


def create_key(server: Server, name: str, *, wiro_signature: bool = False) -> Key:
    """``framecast keys create`` on the server's data directory. The secrets come first; the
    key is alone on the last line of stdout."""
    args = [sys.executable, "-m", "framecast", "keys", "create", "--name", name,
            "--data-dir", str(server.data_dir)]
    if wiro_signature:
        args.append("--wiro-signature")
    done = subprocess.run(args, env=server.env, capture_output=True, text=True, timeout=60,
                          check=True)
    lines = done.stdout.strip().splitlines()
    signing = next(line.split()[-1] for line in lines if "Webhook signing secret" in line)
    wiro = next((line.split()[-1] for line in lines if "Wiro API secret" in line), None)
    key_id = next(line.split()[2] for line in lines if line.startswith("Created key "))
    return Key(lines[-1].strip(), key_id, signing, wiro)


def static_secret(server: Server) -> str:
    """The webhook signing secret of the static ``FRAMECAST_API_KEY``'s tasks."""
    done = subprocess.run([sys.executable, "-m", "framecast", "keys", "secret", "static",
                           "--data-dir", str(server.data_dir)],
                          env=server.env, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout.split()[-1]
