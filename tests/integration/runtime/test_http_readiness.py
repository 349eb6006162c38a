"""The runner's readiness check for HTTP services (the web portal): GET /healthz."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from linli_runtime.platform import wait_http_ready


class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


@pytest.fixture
def proc() -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield p
    p.kill()
    p.wait()


def test_an_http_service_is_ready_when_healthz_answers_200(server: ThreadingHTTPServer,
                                                          proc: subprocess.Popen[bytes]) -> None:
    assert wait_http_ready(f"127.0.0.1:{server.server_address[1]}", 5, proc)


def test_an_http_service_answering_503_is_not_ready(server: ThreadingHTTPServer, proc: subprocess.Popen[bytes],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Health, "status", 503)
    assert not wait_http_ready(f"127.0.0.1:{server.server_address[1]}", 0.5, proc)


def test_an_exited_process_is_not_ready(server: ThreadingHTTPServer) -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert not wait_http_ready(f"127.0.0.1:{server.server_address[1]}", 5, done)
