"""A hostile (or merely broken) peer node for tests: a small HTTP server in the test process that signs
its answers with a real key, like a node that passed enrolment, and serves whatever the test chooses —
a feed of (possibly forged, padded, replayed) envelopes, append-only, whose sequence numbers are the
positions in ``feed`` — in whatever manner the test chooses:
``honest``, ``dribble_body`` (headers at once, then one byte every ``interval`` seconds),
``dribble_headers`` (the status line, then the headers a byte at a time) or ``silent`` (never answers).
Used by the in-process adversarial tests and the end-to-end ones against real nodes."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from federation.signing import (
    SigningKey,
    generate_private_key,
    sign_envelope,
    sign_request,
    sign_response,
)


class HostilePeer:
    """A node id, a real key, a feed, and a manner of answering (``mode``)."""

    def __init__(self, node_id: str = "cn-12", *, key: SigningKey | None = None, mode: str = "honest",
                 interval: float = 0.2) -> None:
        self.node_id = node_id
        self.key = key or SigningKey.from_private_key(generate_private_key())
        self.feed: list[dict[str, Any]] = []
        self.answers: dict[str, Any] = {}  # path prefix → JSON body answered to a GET (instead of the feed)
        self.mode = mode
        self.interval = interval
        self.requests: list[str] = []
        self._closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                peer.requests.append(self.path)
                query = parse_qs(urlsplit(self.path).query)
                since = int((query.get("since") or ["0"])[0])
                served = peer.feed[since:]  # the feed's sequence numbers are its positions, from 1
                answer: Any = {"envelopes": served, "next": max(len(peer.feed), since), "more": False,
                               "head": len(peer.feed)}
                answer = next((a for prefix, a in peer.answers.items() if self.path.startswith(prefix)), answer)
                body = json.dumps(answer, ensure_ascii=False).encode()
                headers = {"content-type": "application/json"}
                signed = sign_response(status=200, headers=headers, body=body, request_method="GET",
                                       request_url=peer.url + self.path, request_headers=dict(self.headers),
                                       key=peer.key.private_key, kid=peer.key.kid)
                head = (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
                        + "".join(f"{k}: {v}\r\n" for k, v in {**headers, **signed}.items()) + "\r\n").encode()
                try:
                    if peer.mode == "silent":
                        peer._closing.wait(600)
                    elif peer.mode == "dribble_headers":
                        self._dribble(head + body)
                    elif peer.mode == "dribble_body":
                        self.wfile.write(head)
                        self.wfile.flush()
                        self._dribble(body)
                    else:
                        self.wfile.write(head + body)
                except OSError:
                    pass  # the client hung up (its deadline): what this test peer waits for
                self.close_connection = True

            def _dribble(self, data: bytes) -> None:
                for i in range(len(data)):
                    if peer._closing.is_set():
                        return
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(peer.interval)

            def do_POST(self) -> None:  # noqa: N802 - pokes and pushes: accepted, ignored
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def envelope(self, record: dict[str, Any], *, kind: str = "upsert", version: int = 1, **kwargs: Any
                 ) -> dict[str, Any]:
        return sign_envelope(record=record, kind=kind, origin=kwargs.pop("origin", self.node_id), version=version,
                             signing_key=kwargs.pop("key", self.key), **kwargs)

    def request(self, base_url: str, method: str, path: str, body: Any = None, *,
                headers: dict[str, str] | None = None, key: SigningKey | None = None, **sign_args: Any
                ) -> requests.Response:
        """A request from this peer to a real node: signed (with ``key``, by default its own), or sent with
        exactly ``headers`` (a replay)."""
        raw = b"" if body is None else json.dumps(body).encode()
        url = base_url + path
        if headers is None:
            headers = {"Content-Type": "application/json"} if raw else {}
            signer = key or self.key
            headers.update(sign_request(method=method, url=url, headers=headers, body=raw, key=signer.private_key,
                                        kid=signer.kid, **sign_args))
        return requests.request(method, url, data=raw or None, headers=headers, timeout=30)

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()


def bounded(func: Any, *, limit: float = 90.0) -> Any:
    """Run ``func`` in a thread and return what it returned or raised (as the exception object); fail the
    test if it has not finished after ``limit`` seconds — a guard against hanging, far above any bound
    the code under test promises, never a measurement."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["value"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise AssertionError(f"still running after {limit:g} s: not bounded")
    return outcome["value"]
