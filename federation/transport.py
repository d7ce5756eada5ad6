"""Signed node-to-node HTTP (protocol v1 profile of RFC 9421, see :mod:`federation.signing.httpsig`).

Client side, :func:`signed_request` signs every request with this node's key and refuses any
response not signed by the node it meant to reach (for that very request). Server side,
:func:`federation_endpoint` wraps a protocol view: it verifies the request (key → certified peer,
Content-Digest, ±``FEDERATION_CLOCK_SKEW`` window, nonce never seen before) before the view runs,
renders every error in the one JSON error shape, and signs the response.

``@target-uri`` is the node's published base URL (``EXCHANGE_BASE_URL``) plus the path and query as
received, so a request signed for one node cannot be replayed to another.
"""

from __future__ import annotations

import json
import logging
import mmap
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import IO, Any
from urllib.parse import urlencode

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from exchange.audit import audit_record
from exchange.clientip import client_ip
from exchange.errors import ExchangeError
from federation import identity, trust
from federation.errors import (
    NotAHubError,
    NotAParentError,
    PeerDeadlineExceededError,
    PeerNotAllowedError,
    PeerResponseError,
    PeerUnreachableError,
)
from federation.models import SeenNonce
from federation.signing import (
    CanonicalJsonError,
    SignatureInvalidError,
    SigningKey,
    UnknownKeyError,
    parse_json,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)

logger = logging.getLogger("federation.transport")
USER_AGENT = "courseware-exchange-node/1 (+federation protocol v1)"
#: Error codes worth an audit event when a peer's request is refused (rate-limited per key and code).
SECURITY_CODES = frozenset({
    "signature_missing", "signature_invalid", "signature_expired", "replayed_request", "digest_mismatch",
    "unknown_key", "certificate_invalid", "certificate_expired", "certificate_not_yet_valid",
    "certificate_revoked", "peer_not_allowed",
})
_local = threading.local()

ResolveKey = Callable[[str], Ed25519PublicKey]


# --- client ------------------------------------------------------------------------------------
#
# Every exchange with a peer has a total deadline, not only a timeout per read: a peer that dribbles
# its answer a byte at a time would otherwise hold the caller for ever. When the deadline passes, a
# timer shuts down the sockets the exchange uses (which ends a blocked read, plain or TLS); the
# connections register themselves with the deadline of the thread that uses them.

class _Deadline:
    """A total time limit for one exchange with a peer, in the thread that runs it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._connections: list[HTTPConnection] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        _local.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _local.deadline = None

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            expired = self.expired
        if expired:
            _shut(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _watch(connection: HTTPConnection) -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _Watched:
    """Connections that register themselves with their thread's deadline (when they connect, and for
    every request on a kept-alive connection)."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self)  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        adapter = _WatchedAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


def build_url(base_url: str, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None) -> str:
    """``base_url`` + ``path`` + the query string, encoded once, exactly as it will be signed."""
    url = base_url.rstrip("/") + path
    if params:
        url += "?" + urlencode(params, doseq=True)
    return url


@dataclass
class SignedResponse:
    """A verified response: ``peer`` is who signed it."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    peer: trust.PeerIdentity | None = None
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        """The body as JSON, parsed strictly and with bounded nesting (a peer's answer is untrusted input).
        Raises PeerResponseError (``malformed_response``) for anything else."""
        if self._json is None:
            try:
                self._json = parse_json(self.body or b"null")
            except CanonicalJsonError as exc:
                raise PeerResponseError(f"the peer's answer is not valid JSON: {exc.message}",
                                        details={"peer_code": "malformed_response"}) from exc
        return self._json


def _response_resolver(expect_node: str | None) -> tuple[ResolveKey, dict[str, trust.PeerIdentity]]:
    seen: dict[str, trust.PeerIdentity] = {}

    def resolve(kid: str) -> Ed25519PublicKey:
        try:
            public, who = trust.request_key(kid)
        except UnknownKeyError:
            # The hub may have rotated its key: learn keys it endorsed with one we pinned, then retry.
            if identity.is_hub() or expect_node != trust.hub_id():
                raise
            from federation.enrolment import hub_keys_refresh

            if not hub_keys_refresh():
                raise
            public, who = trust.request_key(kid)
        if expect_node is not None and who.node_id != expect_node:
            raise SignatureInvalidError(f"response signed by {who.node_id}, not {expect_node}",
                                        details={"expected": expect_node, "signer": who.node_id})
        seen[kid] = who
        return public

    return resolve, seen


def _raise_for_error(status: int, body: bytes, *, url: str, verified: bool) -> None:
    code, message, details = f"http_{status}", f"HTTP {status}", {}
    try:
        error = json.loads(body).get("error") or {}
        code, message, details = error.get("code") or code, error.get("message") or message, error.get("details")
    except (ValueError, AttributeError):
        pass
    raise PeerResponseError(f"{url}: {code}: {message}",
                            details={"peer_code": code, "status": status, "peer_details": details or {},
                                     "verified": verified})


def signed_request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    expect_node: str | None = None,
    timeout: float | None = None,
    signing_key: SigningKey | None = None,
    stream_to: IO[bytes] | None = None,
    max_bytes: int | None = None,
    deadline: float | None = None,
) -> SignedResponse:
    """Send a signed request and return its verified response.

    ``expect_node`` is the node that must have signed the response. With ``stream_to`` the body is
    written to that (seekable, real) file instead of memory, and verified from it. ``timeout`` bounds
    each network wait; ``deadline`` the whole exchange (default ``FEDERATION_REQUEST_DEADLINE``, or
    ``FEDERATION_FILE_DEADLINE`` for a file streamed to disk).
    Raises PeerUnreachableError (network), PeerDeadlineExceededError (too slow in total),
    PeerResponseError (the peer answered with an error; its code in ``details["peer_code"]``), or a
    signature error when the response is not properly signed.
    """
    body, headers = _signed(method, url, json_body=json_body, signing_key=signing_key)
    if deadline is None and timeout is not None and stream_to is None:
        deadline = 2 * timeout  # a short exchange (poke, push): short in total too
    received = _exchange(method, url, body, headers, timeout=timeout, stream_to=stream_to, max_bytes=max_bytes,
                         deadline=deadline)
    return _verified(method, url, headers, received, expect_node=expect_node, streamed=stream_to is not None)


class PendingResponse:
    """A signed GET sent from the background thread; :meth:`result` verifies its response here."""

    def __init__(self, method: str, url: str, headers: dict[str, str], future: Future, expect_node: str | None):
        self.method, self.url, self.headers, self.future, self.expect_node = method, url, headers, future, expect_node

    def result(self) -> SignedResponse:
        """Wait for the response and verify it (in the calling thread: trust decisions read the
        database). Raises what :func:`signed_request` raises."""
        return _verified(self.method, self.url, self.headers, self.future.result(), expect_node=self.expect_node,
                         streamed=False)


def signed_get_in_background(url: str, *, expect_node: str | None = None) -> PendingResponse:
    """Sign a GET here and send it from a background thread, so that waiting for the peer overlaps
    other work (the pull engine fetches the next page while it applies one). The thread only moves
    bytes: signing and verification, which read keys, happen in the caller's thread. Each calling
    thread has its own fetch thread, so one slow peer's fetch never queues another peer's."""
    body, headers = _signed("GET", url, json_body=None, signing_key=None)
    background = getattr(_local, "background", None)
    if background is None:
        background = _local.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="federation-fetch")
    future = background.submit(_exchange, "GET", url, body, headers, timeout=None, stream_to=None, max_bytes=None,
                               deadline=None)
    return PendingResponse("GET", url, headers, future, expect_node)


def _signed(method: str, url: str, *, json_body: Any, signing_key: SigningKey | None) -> tuple[bytes, dict[str, str]]:
    """The request body and headers, signed with this node's key (or ``signing_key``)."""
    key = signing_key or identity.signing_key()
    body = b"" if json_body is None else json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Accept": "application/json"}
    if json_body is not None:
        headers["Content-Type"] = "application/json"
    headers.update(sign_request(method=method, url=url, headers=headers, body=body, key=key.private_key, kid=key.kid))
    return body, headers


@dataclass
class _Received:
    status: int
    headers: dict[str, str]
    body: bytes | mmap.mmap


def _exchange(method: str, url: str, body: bytes, headers: dict[str, str], *, timeout: float | None,
              stream_to: IO[bytes] | None, max_bytes: int | None, deadline: float | None) -> _Received:
    """Send the request and read the response (nothing verified yet), all within the deadline. Raises
    PeerUnreachableError, PeerDeadlineExceededError, or PeerResponseError for a body over ``max_bytes``
    (streamed to a file) or over ``FEDERATION_MAX_RESPONSE_BYTES`` (read into memory)."""
    if deadline is None:
        deadline = settings.FEDERATION_FILE_DEADLINE if stream_to is not None else settings.FEDERATION_REQUEST_DEADLINE
    started = time.monotonic()
    with _Deadline(deadline) as limit:
        try:
            response = _session().request(method, url, data=body or None, headers=headers,
                                          timeout=min(timeout or settings.FEDERATION_HTTP_TIMEOUT, deadline),
                                          stream=True, allow_redirects=False)
        except (requests.RequestException, OSError) as exc:
            _raise_if_late(limit, url, started)
            raise PeerUnreachableError(f"{url}: {exc.__class__.__name__}", details={"url": url}) from exc
        try:
            total = 0
            limit_bytes = max_bytes if stream_to is not None else settings.FEDERATION_MAX_RESPONSE_BYTES
            kept = bytearray()
            for chunk in response.iter_content(1024 * 1024):
                total += len(chunk)
                if limit_bytes is not None and total > limit_bytes:
                    raise PeerResponseError(f"{url}: body larger than {limit_bytes} bytes",
                                            details={"peer_code": "too_large"})
                if stream_to is not None:
                    stream_to.write(chunk)
                else:
                    kept += chunk
            _raise_if_late(limit, url, started)
            if stream_to is not None:
                stream_to.flush()
            body_in: bytes | mmap.mmap = _mapped(stream_to, total) if stream_to is not None else bytes(kept)
        except (requests.RequestException, OSError) as exc:
            _raise_if_late(limit, url, started)
            raise PeerUnreachableError(f"{url}: {exc.__class__.__name__}", details={"url": url}) from exc
        finally:
            response.close()
    return _Received(status=response.status_code, headers=dict(response.headers), body=body_in)


def _raise_if_late(limit: _Deadline, url: str, started: float) -> None:
    if limit.expired:
        raise PeerDeadlineExceededError(f"{url}: no complete answer within {limit.seconds:g} s",
                                        details={"url": url, "deadline_seconds": limit.seconds,
                                                 "elapsed_seconds": round(time.monotonic() - started, 1)})


def _verified(method: str, url: str, sent: dict[str, str], received: _Received, *, expect_node: str | None,
              streamed: bool) -> SignedResponse:
    """Verify the response's signature (by ``expect_node`` when given); raise for an error status."""
    body_in = received.body
    resolve, seen = _response_resolver(expect_node)
    try:
        kid = verify_response(status=received.status, headers=received.headers, body=body_in,
                              request_method=method, request_url=url, request_headers=sent,
                              resolve_key=resolve, max_skew=settings.FEDERATION_CLOCK_SKEW)
    except ExchangeError:
        if received.status >= 400:
            _raise_for_error(received.status, bytes(body_in[:65536]), url=url, verified=False)
        raise
    finally:
        if isinstance(body_in, mmap.mmap):
            body_in.close()
    if received.status >= 400:
        _raise_for_error(received.status, b"" if streamed else bytes(body_in), url=url, verified=True)
    return SignedResponse(status=received.status, headers=received.headers,
                          body=b"" if streamed else bytes(body_in), peer=seen.get(kid))


def _mapped(handle: IO[bytes], size: int) -> bytes | mmap.mmap:
    """The streamed body as a buffer without reading it into memory (empty bodies cannot be mapped)."""
    if size == 0:
        return b""
    return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


# --- server ------------------------------------------------------------------------------------

def nonce_seen(kid: str, nonce: str, expires_at: datetime) -> bool:
    """Record a request nonce; True when it was already recorded (a replay). Expired nonces are
    purged now and then (and by the sync tick)."""
    try:
        with transaction.atomic():
            SeenNonce.objects.create(kid=kid, nonce=nonce, expires_at=expires_at)
    except IntegrityError:
        return True
    if random.random() < 1 / 256:  # noqa: S311 - load spreading, not security
        nonces_purge()
    return False


def nonces_purge() -> int:
    """Forget nonces whose time window has closed (the ``created`` check alone refuses those)."""
    deleted, _ = SeenNonce.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def _client_ip(request: HttpRequest) -> str:
    return client_ip(request)


def _audit_refusal(request: HttpRequest, exc: ExchangeError, kid: str) -> None:
    if exc.code not in SECURITY_CODES:
        return
    if not cache.add(f"federation-refused:{exc.code}:{kid or _client_ip(request)}", 1, 60):
        return
    try:
        audit_record(action="federation.request_refused", actor=kid or "unknown", object_type="endpoint",
                     object_id=request.path[:64], ip=_client_ip(request),
                     data={"code": exc.code, "message": exc.message, "method": request.method})
    except Exception:  # noqa: BLE001 - refusing the request matters more than recording it
        logger.exception("could not audit a refused federation request")


def _signature_kid(headers: Mapping[str, str]) -> str:
    raw = headers.get("Signature-Input", "")
    marker = 'keyid="'
    start = raw.find(marker)
    if start < 0:
        return ""
    end = raw.find('"', start + len(marker))
    return raw[start + len(marker): end if end > 0 else None][:64]


def request_url(request: HttpRequest) -> str:
    """The ``@target-uri`` a signed request to this node must cover."""
    return settings.EXCHANGE_BASE_URL.rstrip("/") + request.get_full_path()


def verify_incoming(
    request: HttpRequest, *, resolve: Callable[[str], tuple[Ed25519PublicKey, trust.PeerIdentity]] | None = None,
) -> trust.PeerIdentity:
    """Verify a signed request to this node; return who sent it. Raises the signature and
    certificate errors of :mod:`federation.signing` (nonce recorded only after the signature verifies)."""
    resolver = resolve or trust.request_key
    identities: dict[str, trust.PeerIdentity] = {}

    def resolve_key(kid: str) -> Ed25519PublicKey:
        public, who = resolver(kid)
        identities[kid] = who
        return public

    kid = verify_request(method=request.method or "GET", url=request_url(request), headers=dict(request.headers),
                         body=request.body, resolve_key=resolve_key, nonce_seen=nonce_seen,
                         max_skew=settings.FEDERATION_CLOCK_SKEW)
    return identities[kid]


def _sign(request: HttpRequest, response: HttpResponse, body: bytes | mmap.mmap | None = None) -> HttpResponse:
    """Sign ``response`` as an answer to ``request``; unsigned requests get unsigned answers."""
    if "Signature" not in request.headers or "Signature-Input" not in request.headers:
        return response
    key = identity.signing_key()
    headers = sign_response(
        status=response.status_code, headers={"content-type": response.get("Content-Type", "")},
        body=response.content if body is None else body, request_method=request.method or "GET",
        request_url=request_url(request), request_headers=dict(request.headers), key=key.private_key, kid=key.kid,
    )
    for name, value in headers.items():
        response[name] = value
    return response


def sign_file_response(request: HttpRequest, response: HttpResponse, handle: IO[bytes], size: int) -> HttpResponse:
    """Sign a streamed file response, reading the file through a memory map (not into memory)."""
    body = _mapped(handle, size)
    try:
        return _sign(request, response, body)
    finally:
        if isinstance(body, mmap.mmap):
            body.close()


def json_response(data: Any, *, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False,
                                                                            "separators": (",", ":")})


def federation_endpoint(
    *,
    methods: tuple[str, ...],
    hub_only: bool = False,
    parent_only: bool = False,
    roles: frozenset[str] | None = None,
    resolve: Callable[[HttpRequest], Callable[[str], tuple[Ed25519PublicKey, trust.PeerIdentity]]] | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Decorate a protocol view: verify the signed request before it runs (``request.federation_peer``
    is the caller), keep the caller to ``roles`` when given, render errors in the one error shape,
    sign the response. ``hub_only`` / ``parent_only``: served only by the hub / by a node that may certify
    others. ``resolve(request)`` may supply another key resolver (enrolment requests are signed with the
    key they enrol)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            kid = _signature_kid(request.headers)
            try:
                if request.method not in methods:
                    response: HttpResponse = json_response(
                        {"error": {"code": "method_not_allowed", "message": f"Use {', '.join(methods)}.",
                                   "details": {}}}, status=405)
                    response["Allow"] = ", ".join(methods)
                    return _sign(request, response)
                if hub_only and not identity.is_hub():
                    raise NotAHubError()
                if parent_only and not trust.may_certify():
                    raise NotAParentError()
                peer = verify_incoming(request, resolve=resolve(request) if resolve else None)
                if roles is not None and peer.role not in roles:
                    raise PeerNotAllowedError(details={"node_id": peer.node_id, "role": peer.role})
                request.federation_peer = peer  # type: ignore[attr-defined]
                response = view(request, *args, **kwargs)
                if getattr(response, "federation_signed", False):
                    return response
            except ExchangeError as exc:
                _audit_refusal(request, exc, kid)
                response = json_response(exc.as_dict(), status=exc.http_status)
            return _sign(request, response)

        return wrapper

    return decorator
