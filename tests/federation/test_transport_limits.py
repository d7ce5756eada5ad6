"""A peer cannot make a node read an unbounded response into memory, and a served feed page stays
within its byte budget."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from federation.errors import PeerResponseError
from federation.signing import SigningKey, generate_private_key
from federation.transport import signed_get_in_background, signed_request


@pytest.fixture
def big_answer() -> Iterator[str]:
    """A server answering every GET with 5,000 bytes (unsigned: the size check comes first)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            body = b"x" * 5000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/federation/v1/changes"
    server.shutdown()
    server.server_close()


def test_a_response_over_the_limit_is_refused_before_it_is_read_whole(settings, big_answer):
    settings.FEDERATION_MAX_RESPONSE_BYTES = 1000
    key = SigningKey.from_private_key(generate_private_key())
    with pytest.raises(PeerResponseError) as info:
        signed_request("GET", big_answer, signing_key=key)
    assert info.value.details["peer_code"] == "too_large"


def test_the_background_fetch_has_the_same_limit(settings, big_answer, monkeypatch):
    settings.FEDERATION_MAX_RESPONSE_BYTES = 1000
    key = SigningKey.from_private_key(generate_private_key())
    monkeypatch.setattr("federation.identity.signing_key", lambda: key)
    pending = signed_get_in_background(big_answer)
    with pytest.raises(PeerResponseError) as info:
        pending.result()
    assert info.value.details["peer_code"] == "too_large"


def test_a_signed_answer_nested_too_deep_is_refused_not_crashed():
    """A certified peer's signed answer is still untrusted input: parsed strictly, with bounded nesting."""
    from federation.transport import SignedResponse

    deep = SignedResponse(status=200, headers={}, body=b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(PeerResponseError) as info:
        deep.json()
    assert info.value.details["peer_code"] == "malformed_response"
    assert SignedResponse(status=200, headers={}, body=b'{"ok": true}').json() == {"ok": True}
