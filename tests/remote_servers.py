"""Real servers on loopback for the remote-source tests: an S3 server (moto in server
mode) and a small fault-injecting HTTP proxy in front of it. No mocks of HTTP: every
request goes over a socket to a server that parses it.

Tests that need a server skip with the reason when it cannot start, except under
``DICOMDECODE_REQUIRE_SERVICES=1`` (set by CI), where they fail."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CREDENTIALS = {"key": "testing-key-id", "secret": "testing-secret-do-not-show"}


def services_required() -> bool:
    return os.environ.get("DICOMDECODE_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def unavailable(message: str) -> None:
    """Skip, or fail where services are required (CI)."""
    if services_required():
        pytest.fail(f"DICOMDECODE_REQUIRE_SERVICES is set but {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """moto's S3 in server mode on 127.0.0.1, on a port the OS picks while binding.

    moto's ThreadedMotoServer binds in its own thread and waits without a timeout for it
    to be ready, so a port taken between choosing and binding it (a busy machine, other
    tests' servers and cluster workers) left the test waiting forever. Here the socket is
    bound in the caller's thread (port 0: no race), so a failure raises at once, and only
    the serving loop runs in a thread."""

    def __init__(self) -> None:
        from moto.server import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        self.server = make_server("127.0.0.1", 0, app, threaded=True,
                                  request_handler=MotoRequestHandler)
        self.port = int(self.server.server_port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=CREDENTIALS["key"],
                            aws_secret_access_key=CREDENTIALS["secret"])

    def upload(self, bucket: str, files: dict[str, bytes | Path]) -> None:
        """Create `bucket` and put every key -> bytes (or file) in it, several at once."""
        from concurrent.futures import ThreadPoolExecutor

        client = self.client()
        client.create_bucket(Bucket=bucket)

        def put(item: tuple[str, bytes | Path]) -> None:
            key, data = item
            body = data.read_bytes() if isinstance(data, Path) else data
            client.put_object(Bucket=bucket, Key=key, Body=body)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, files.items()))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def storage_options(endpoint: str) -> dict[str, Any]:
    """s3fs options for a loopback endpoint, credentials included (the tests check they
    never show up in reports, errors or logs)."""
    return {**CREDENTIALS, "client_kwargs": {"endpoint_url": endpoint,
                                             "region_name": "us-east-1"},
            "skip_instance_cache": True}


class FaultProxy:
    """A real HTTP server that forwards to `upstream`, answering 503 to every `every`-th
    request and never answering requests whose path contains `hang` (until stopped)."""

    def __init__(self, upstream_port: int, *, every: int = 0, hang: str | None = None,
                 short_body: str | None = None, refuse: str | None = None,
                 hang_any: bool = False) -> None:
        """`refuse`: answer 406 Not Acceptable to GETs whose path contains it (a PACS that
        cannot send frames as stored); `hang_any`: `hang` applies to every GET, not only
        ranged ones (a DICOMweb request has no Range header)."""
        self.count = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    proxy.count += 1
                    n = proxy.count
                if refuse and refuse in self.path and self.command == "GET":
                    self.send_response(406)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if hang and hang in self.path and self.command == "GET" \
                        and (hang_any or "Range" in self.headers):
                    proxy.stopping.wait(120)
                    self.close_connection = True
                    return
                if every and n % every == 0:
                    with proxy.lock:
                        proxy.failed += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                         "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that
                    super().handle_error(request, client_address)  # hung up is no news

        self.server = Server(("127.0.0.1", 0), Handler)  # port 0: the OS picks, no race
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def start_or_skip(factory: Callable[[], Any], what: str) -> Any:
    try:
        return factory()
    except Exception as exc:  # an import error, a port in use, a server that died
        unavailable(f"{what} could not start: {type(exc).__name__}: {exc}")


def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def series_files(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*") if p.is_file())


ORTHANC_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


class OrthancServer:
    """Orthanc with its DICOMweb plugin (Debian packages ``orthanc`` and
    ``orthanc-dicomweb``), on 127.0.0.1 and a free port, storing into `folder`."""

    def __init__(self, folder: Path) -> None:
        import json
        import shutil
        import subprocess
        import urllib.request

        binary = shutil.which("Orthanc")
        if binary is None or not os.path.exists(ORTHANC_PLUGIN):
            raise FileNotFoundError("Orthanc or its DICOMweb plugin is not installed "
                                    "(apt-get install orthanc orthanc-dicomweb)")
        folder.mkdir(parents=True, exist_ok=True)
        self.log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        # Orthanc binds the port it is given: one taken between choosing and binding it
        # makes it exit, so a few fresh ports are tried (each start waits 30 s at most)
        for _attempt in range(3):
            self.port = free_port()
            config = folder / "orthanc.json"
            config.write_text(json.dumps({
                "Name": "dicomdecode-test", "HttpPort": self.port, "DicomServerEnabled": False,
                "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
                "Plugins": [ORTHANC_PLUGIN], "RemoteAccessAllowed": False,
                "AuthenticationEnabled": False, "HttpCompressionEnabled": False,
                "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}))
            self.process = subprocess.Popen([binary, str(config)], stdout=self.log,
                                            stderr=subprocess.STDOUT)
            self.base = f"http://127.0.0.1:{self.port}"
            self.root = f"{self.base}/dicom-web"

            def up() -> bool:
                try:
                    with urllib.request.urlopen(f"{self.base}/system", timeout=1) as r:
                        return r.status == 200
                except OSError:
                    return self.process.poll() is not None

            if wait_for(up, 30) and self.process.poll() is None:
                return
            self._end_process()
        self.log.close()
        raise RuntimeError(f"Orthanc did not start (see {folder / 'orthanc.log'})")

    def upload(self, files: list[Path]) -> None:
        """POST each file to the REST API (/instances), as a PACS receives them."""
        import urllib.request

        for path in files:
            request = urllib.request.Request(f"{self.base}/instances", data=path.read_bytes(),
                                             method="POST")
            with urllib.request.urlopen(request, timeout=30) as r:
                assert r.status == 200, path

    def _end_process(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
                self.process.wait(10)

    def stop(self) -> None:
        self._end_process()
        self.log.close()
