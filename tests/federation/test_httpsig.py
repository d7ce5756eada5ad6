"""HTTP Message Signatures (RFC 9421) and Content-Digest (RFC 9530) as federation protocol v1 uses them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from federation.signing import (
    DigestMismatchError,
    ReplayedRequestError,
    SignatureExpiredError,
    SignatureInvalidError,
    SignatureMissingError,
    SigningKey,
    UnknownKeyError,
    content_digest,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from federation.signing.sigbase import ComponentError, HttpMessage, normalize_target_uri, signature_base
from federation.signing.structured import (
    InnerList,
    Item,
    StructuredFieldError,
    Token,
    parse_dictionary,
    serialize_dictionary,
)

# ---------------------------------------------------------------- RFC 9421 test material

# Appendix B.1.4, test-key-ed25519.
RFC9421_ED25519_PRIVATE = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
RFC9421_ED25519_PUBLIC = b"""-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
# Appendix B.2, test-request (POST /foo?param=Value&Pet=dog to example.com).
RFC9421_REQUEST_URL = "https://example.com/foo?param=Value&Pet=dog"
RFC9421_REQUEST_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    "Content-Length": "18",
}
# Appendix B.2.6, "Signing a Request Using ed25519".
RFC9421_B26_SIGNATURE_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
RFC9421_B26_SIGNATURE = (
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
)
RFC9421_B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
# Section 2.4, second example: a response bound to the request's signature "sig1".
RFC9421_REQUEST_SIG1 = (
    "sig1=:LAH8BjcfcOcLojiuOBFWn0P5keD3xAOuJRGziCLuD8r5MW9S0RoXXLzLSRfGY/3SF8kVIkHjE13SEFdTo4Af/fJ/Pu9wheqoLVdwXyY"
    "/UkBIS1M8Brc8IODsn5DFIrG0IrburbLi0uCc+E2ZIIb6HbUJ+o+jP58JelMTe0QE3IpWINTEzpxjqDf5/Df+InHCAkQCTuKsamjWXUpyOT1Wk"
    "xi7YPVNOjW4MfNuTZ9HdbD2Tr65+BXeTG9ZS/9SWuXAc+BZ8WyPz0QRz//ec3uWXd7bYYODSjRAxHqX+S1ag3LZElYyUKaAIjZ8MGOt4gXEw"
    "CSLDv/zqxZeWLj/PDkn6w==:"
)
RFC9421_S24_SIGNATURE_INPUT = (
    'reqres=("@status" "content-length" "content-type" "signature";req;key="sig1" "@authority";req "@method";req)'
    ';created=1618884479;keyid="test-key-ecc-p256"'
)
RFC9421_S24_BASE = (
    '"@status": 503\n'
    '"content-length": 62\n'
    '"content-type": application/json\n'
    f'"signature";req;key="sig1": {RFC9421_REQUEST_SIG1.removeprefix("sig1=")}\n'
    '"@authority";req: example.com\n'
    '"@method";req: POST\n'
    '"@signature-params": ("@status" "content-length" "content-type" "signature";req;key="sig1" '
    '"@authority";req "@method";req);created=1618884479;keyid="test-key-ecc-p256"'
)

URL = "https://hub.example.cn/federation/v1/poke"
BODY = b'{"since": 41}'
NOW = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


def rfc_test_request() -> HttpMessage:
    return HttpMessage.request("POST", RFC9421_REQUEST_URL, RFC9421_REQUEST_HEADERS)


def test_rfc9421_b26_signature_base_is_rebuilt_byte_for_byte() -> None:
    """Parsing the RFC's Signature-Input and rebuilding the base over its test request gives B.2.6's base."""
    signature_input = parse_dictionary(RFC9421_B26_SIGNATURE_INPUT)["sig-b26"]
    assert isinstance(signature_input, InnerList)
    base = signature_base(signature_input.items, signature_input.params, rfc_test_request())
    assert base == RFC9421_B26_BASE.encode("ascii")
    assert serialize_dictionary({"sig-b26": signature_input}) == RFC9421_B26_SIGNATURE_INPUT


def test_rfc9421_b26_ed25519_signature_matches_and_verifies() -> None:
    """Ed25519 is deterministic: test-key-ed25519 over the B.2.6 base yields the RFC's exact Signature."""
    private_key = load_pem_private_key(RFC9421_ED25519_PRIVATE, password=None)
    public_key = load_pem_public_key(RFC9421_ED25519_PUBLIC)
    signature = private_key.sign(RFC9421_B26_BASE.encode("ascii"))  # type: ignore[union-attr, call-arg]
    assert serialize_dictionary({"sig-b26": Item(signature)}) == RFC9421_B26_SIGNATURE
    published = parse_dictionary(RFC9421_B26_SIGNATURE)["sig-b26"]
    assert isinstance(published, Item) and isinstance(published.value, bytes)
    public_key.verify(published.value, RFC9421_B26_BASE.encode("ascii"))  # type: ignore[union-attr, call-arg]


def test_rfc9421_section_2_4_response_covers_the_request_signature() -> None:
    """``;req`` and ``;key`` reproduce the RFC's request-response binding base exactly."""
    request = HttpMessage.request(
        "POST", RFC9421_REQUEST_URL, {**RFC9421_REQUEST_HEADERS, "Signature": RFC9421_REQUEST_SIG1}
    )
    response = HttpMessage.response(
        503,
        {"Date": "Tue, 20 Apr 2021 02:07:56 GMT", "Content-Type": "application/json", "Content-Length": "62"},
    )
    signature_input = parse_dictionary(RFC9421_S24_SIGNATURE_INPUT)["reqres"]
    assert isinstance(signature_input, InnerList)
    base = signature_base(signature_input.items, signature_input.params, response, request)
    assert base == RFC9421_S24_BASE.encode("ascii")


def test_rfc9530_content_digest() -> None:
    """Content-Digest is RFC 9530's sha-256 form; a GET's empty body has a digest too."""
    assert content_digest(b'{"hello": "world"}') == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    assert content_digest(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


def test_target_uri_normalization() -> None:
    """Scheme and host case, default ports and empty paths do not change the signed target URI."""
    assert (
        normalize_target_uri("HTTPS://Hub.Example.CN:443?since=1#frag") == "https://hub.example.cn/?since=1"
    )
    assert normalize_target_uri("http://[::1]:8100/a%2Fb?x=1") == "http://[::1]:8100/a%2Fb?x=1"


# ---------------------------------------------------------------- structured fields (RFC 8941)


def test_structured_dictionary_round_trip() -> None:
    """Parsing then serializing yields the canonical form, whatever optional whitespace was sent."""
    text = 'a=( "x"  "y";req );n=-12;d=1.50;t=tok/en, b=?0, c, e=:AQID:'
    parsed = parse_dictionary(text)
    assert parsed["a"] == InnerList(
        [Item("x"), Item("y", {"req": True})], {"n": -12, "d": Decimal("1.50"), "t": Token("tok/en")}
    )
    assert isinstance(parsed["a"].params["t"], Token)
    assert parsed["e"] == Item(b"\x01\x02\x03")
    assert serialize_dictionary(parsed) == 'a=("x" "y";req);n=-12;d=1.5;t=tok/en, b=?0, c, e=:AQID:'


@pytest.mark.parametrize(
    "text",
    ["a=1,", 'a="unterminated', "A=1", "a=1234567890123456", "a=(1 2", 'a="\\x"', "a=?2", "a=1;", "a=:AQ*D:"],
)
def test_structured_dictionary_refuses_invalid_values(text: str) -> None:
    """Malformed dictionaries fail to parse instead of being guessed at."""
    with pytest.raises(StructuredFieldError):
        parse_dictionary(text)


# ---------------------------------------------------------------- protocol profile: requests


class NonceStore:
    """In-memory ``nonce_seen`` that records what it was asked, as a real store would."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], datetime] = {}

    def __call__(self, kid: str, nonce: str, expires_at: datetime) -> bool:
        if (kid, nonce) in self.seen:
            return True
        self.seen[(kid, nonce)] = expires_at
        return False


@pytest.fixture
def resolve_key(origin_key: SigningKey) -> Callable[[str], object]:
    return {origin_key.kid: origin_key.public_key}.__getitem__


def signed_request(
    key: SigningKey, *, method: str = "POST", url: str = URL, body: bytes = BODY, **kwargs
) -> dict:
    headers = {"Content-Type": "application/json"}
    return {
        **headers,
        **sign_request(
            method=method,
            url=url,
            headers=headers,
            body=body,
            key=key.private_key,
            kid=key.kid,
            created=NOW,
            **kwargs,
        ),
    }


def verify(
    headers: dict,
    resolve_key,
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    now: datetime = NOW,
    nonce_seen: Callable | None = None,
) -> str:
    return verify_request(
        method=method,
        url=url,
        headers=headers,
        body=body,
        resolve_key=resolve_key,
        nonce_seen=nonce_seen or NonceStore(),
        now=now,
    )


def test_request_round_trip(origin_key: SigningKey, resolve_key) -> None:
    """A signed request carries the three headers and verifies to the signer's key id."""
    headers = signed_request(origin_key)
    assert headers["Content-Digest"] == content_digest(BODY)
    assert headers["Signature-Input"].startswith('sig1=("@method" "@target-uri" "content-digest");created=')
    assert ';alg="ed25519"' in headers["Signature-Input"] and ";nonce=" in headers["Signature-Input"]
    assert verify(headers, resolve_key) == origin_key.kid


def test_get_with_empty_body_and_case_insensitive_headers(origin_key: SigningKey, resolve_key) -> None:
    """GETs sign the empty body's digest; header names are matched case-insensitively."""
    url = "https://hub.example.cn/federation/v1/changes?since=10&limit=100"
    headers = signed_request(origin_key, method="GET", url=url, body=b"")
    lowered = {name.lower(): value for name, value in headers.items()}
    assert (
        verify(
            lowered,
            resolve_key,
            method="get",
            url="HTTPS://HUB.example.cn:443/federation/v1/changes?since=10&limit=100",
            body=b"",
        )
        == origin_key.kid
    )


def test_nonce_is_recorded_until_the_window_closes(origin_key: SigningKey, resolve_key) -> None:
    """The nonce store learns the nonce with an expiry of created + max_skew; a replay is refused."""
    store = NonceStore()
    headers = signed_request(origin_key, nonce="n" * 24)
    verify(headers, resolve_key, nonce_seen=store)
    assert store.seen == {(origin_key.kid, "n" * 24): NOW + timedelta(seconds=300)}
    with pytest.raises(ReplayedRequestError, match="already received"):
        verify(headers, resolve_key, nonce_seen=store)


def test_unsigned_junk_never_reaches_the_nonce_store(origin_key: SigningKey, resolve_key) -> None:
    """A request whose signature fails does not consume or record its nonce."""
    store = NonceStore()
    headers = signed_request(origin_key)
    with pytest.raises(SignatureInvalidError):
        verify(headers, resolve_key, method="DELETE", nonce_seen=store)
    assert store.seen == {}


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-300, True), (300, True), (-301, False), (301, False), (-86400, False)]
)
def test_created_must_be_within_the_clock_window(
    origin_key, resolve_key, offset: int, accepted: bool
) -> None:
    """``created`` may differ from the verifier's clock by at most 300 s, in either direction."""
    headers = signed_request(origin_key)
    now = NOW - timedelta(seconds=offset)
    if accepted:
        assert verify(headers, resolve_key, now=now) == origin_key.kid
    else:
        with pytest.raises(SignatureExpiredError, match="time window"):
            verify(headers, resolve_key, now=now)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(method="PUT"), SignatureInvalidError, "does not verify"),
        (dict(url=URL.replace("poke", "changes")), SignatureInvalidError, "does not verify"),
        (dict(url=URL + "?since=0"), SignatureInvalidError, "does not verify"),
        (
            dict(url=URL.replace("hub.example.cn", "evil.example.cn")),
            SignatureInvalidError,
            "does not verify",
        ),
        (dict(url=URL.replace("https", "http")), SignatureInvalidError, "does not verify"),
        (dict(body=b'{"since": 42}'), DigestMismatchError, "does not match the body"),
    ],
)
def test_request_tampering_is_refused(origin_key, resolve_key, change, error, match) -> None:
    """Any change to the covered method, target URI or body is refused."""
    with pytest.raises(error, match=match):
        verify(signed_request(origin_key), resolve_key, **change)


def test_content_digest_swapped_with_the_body_is_refused(origin_key, resolve_key) -> None:
    """Replacing body and Content-Digest together breaks the signature, which covers the digest."""
    other = b'{"since": 0}'
    headers = {**signed_request(origin_key), "Content-Digest": content_digest(other)}
    with pytest.raises(SignatureInvalidError, match="does not verify"):
        verify(headers, resolve_key, body=other)


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda h: h.pop("Signature"), SignatureMissingError, "headers are required"),
        (lambda h: h.pop("Signature-Input"), SignatureMissingError, "headers are required"),
        (
            lambda h: h.update(Signature=h["Signature"].replace("sig1=", "sig2=")),
            SignatureMissingError,
            "labelled sig1",
        ),
        (lambda h: h.pop("Content-Digest"), SignatureInvalidError, "'content-digest' is absent"),
        (
            lambda h: h.update(
                Signature=h["Signature"][:10]
                + ("A" if h["Signature"][10] != "A" else "B")
                + h["Signature"][11:]
            ),
            SignatureInvalidError,
            "does not verify",
        ),
        (lambda h: h.update(Signature="sig1=:AAAA:"), SignatureInvalidError, "64-byte"),
        (
            lambda h: h.update({"Signature-Input": h["Signature-Input"] + ","}),
            SignatureInvalidError,
            "malformed",
        ),
        (lambda h: h.update({"Content-Digest": "sha-256=:nope"}), SignatureInvalidError, "does not verify"),
    ],
)
def test_missing_or_broken_signature_headers(origin_key, resolve_key, mutate, error, match) -> None:
    """Absent, mislabelled, truncated or altered signature headers are refused with the matching error."""
    headers = signed_request(origin_key)
    mutate(headers)
    with pytest.raises(error, match=match):
        verify(headers, resolve_key)


def test_unknown_key_and_impostor_key(origin_key: SigningKey, other_key: SigningKey, resolve_key) -> None:
    """An unenrolled kid is UnknownKeyError; another key signing under the enrolled kid is invalid."""
    with pytest.raises(UnknownKeyError, match="not known"):
        verify(signed_request(other_key), resolve_key)
    impostor = SigningKey(private_key=other_key.private_key, kid=origin_key.kid)
    with pytest.raises(SignatureInvalidError, match="does not verify"):
        verify(signed_request(impostor), resolve_key)


def test_extra_covered_headers_are_protected(origin_key, resolve_key) -> None:
    """Headers named in ``extra_components`` are signed; changing one breaks the signature."""
    headers = signed_request(origin_key, extra_components=["Content-Type"])
    assert '"content-digest" "content-type")' in headers["Signature-Input"]
    assert verify(headers, resolve_key) == origin_key.kid
    with pytest.raises(SignatureInvalidError, match="does not verify"):
        verify({**headers, "Content-Type": "text/plain"}, resolve_key)


def custom_signed(key: SigningKey, covered: list[Item], params: dict) -> dict:
    """Headers carrying a *valid* signature over arbitrary components and parameters (to test policy).

    Components no signature base can include get a dummy signature: the verifier must refuse them
    before it gets to checking one.
    """
    headers = {"Content-Type": "application/json", "Content-Digest": content_digest(BODY)}
    try:
        signature = key.private_key.sign(
            signature_base(covered, params, HttpMessage.request("POST", URL, headers))
        )
    except ComponentError:
        signature = bytes(64)
    return {
        **headers,
        "Signature-Input": serialize_dictionary({"sig1": InnerList(covered, params)}),
        "Signature": serialize_dictionary({"sig1": Item(signature)}),
    }


FULL = [Item("@method"), Item("@target-uri"), Item("content-digest")]


@pytest.mark.parametrize(
    ("covered", "params", "error", "match"),
    [
        (FULL[:2], {}, SignatureInvalidError, 'does not cover "content-digest"'),
        ([FULL[0], FULL[2]], {}, SignatureInvalidError, 'does not cover "@target-uri"'),
        (
            [Item("@method"), Item("@path"), Item("@authority"), FULL[2]],
            {},
            SignatureInvalidError,
            "does not cover",
        ),
        (FULL, {"alg": "rsa-pss-sha512"}, SignatureInvalidError, 'alg must be "ed25519"'),
        (FULL, {"alg": Token("ed25519")}, SignatureInvalidError, 'alg must be "ed25519"'),
        (FULL, {"alg": None}, SignatureInvalidError, 'alg must be "ed25519"'),
        (FULL, {"nonce": None}, SignatureInvalidError, "must carry a nonce"),
        (FULL, {"nonce": "short"}, SignatureInvalidError, "must carry a nonce"),
        (FULL, {"tag": "other-app"}, SignatureInvalidError, "unsupported signature parameters"),
        (FULL, {"expires": int(NOW.timestamp()) - 1}, SignatureExpiredError, "expires"),
        (
            FULL + [Item("@query-param", {"name": "x"})],
            {},
            SignatureInvalidError,
            "unsupported component parameters",
        ),
        (FULL + [Item("x-absent")], {}, SignatureInvalidError, "'x-absent' is absent"),
    ],
)
def test_verifier_policy_on_otherwise_valid_signatures(
    origin_key, resolve_key, covered, params, error, match
) -> None:
    """Correctly signed requests are still refused when they cover too little or use other parameters."""
    base_params = {
        "created": int(NOW.timestamp()),
        "keyid": origin_key.kid,
        "nonce": "n" * 24,
        "alg": "ed25519",
    }
    merged = {name: value for name, value in {**base_params, **params}.items() if value is not None}
    with pytest.raises(error, match=match):
        verify(custom_signed(origin_key, covered, merged), resolve_key)


def test_naive_datetimes_are_refused(origin_key: SigningKey) -> None:
    """A created time without a zone is ambiguous, so signing refuses it."""
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_request(
            method="GET",
            url=URL,
            headers={},
            body=b"",
            key=origin_key.private_key,
            kid=origin_key.kid,
            created=datetime(2025, 3, 1, 8, 0, 0),
        )


# ---------------------------------------------------------------- protocol profile: responses

RESPONSE_BODY = b'{"envelopes": [], "next": 42}'


def signed_exchange(client: SigningKey, server: SigningKey) -> tuple[dict, dict]:
    request_headers = signed_request(client, method="GET", body=b"")
    response_headers = {"Content-Type": "application/json"}
    response_headers.update(
        sign_response(
            status=200,
            headers=response_headers,
            body=RESPONSE_BODY,
            request_method="GET",
            request_url=URL,
            request_headers=request_headers,
            key=server.private_key,
            kid=server.kid,
            created=NOW,
        )
    )
    return request_headers, response_headers


def check_response(
    response_headers: dict,
    request_headers: dict,
    server: SigningKey,
    *,
    status: int = 200,
    body: bytes = RESPONSE_BODY,
    request_url: str = URL,
) -> str:
    return verify_response(
        status=status,
        headers=response_headers,
        body=body,
        request_method="GET",
        request_url=request_url,
        request_headers=request_headers,
        resolve_key={server.kid: server.public_key}.__getitem__,
        now=NOW,
    )


def test_response_round_trip_is_bound_to_the_request(origin_key: SigningKey, other_key: SigningKey) -> None:
    """A response signature covers status, digest and the request's method, URI and signature."""
    request_headers, response_headers = signed_exchange(origin_key, other_key)
    assert response_headers["Signature-Input"].startswith(
        'sig1=("@status" "content-digest" "@method";req "@target-uri";req "signature";req;key="sig1");created='
    )
    assert check_response(response_headers, request_headers, other_key) == other_key.kid


def test_response_cannot_be_replayed_to_another_request(
    origin_key: SigningKey, other_key: SigningKey
) -> None:
    """A genuine response to one request fails for a second, identical-looking request (new nonce)."""
    _, response_headers = signed_exchange(origin_key, other_key)
    second_request, _ = signed_exchange(origin_key, other_key)
    with pytest.raises(SignatureInvalidError, match="does not verify"):
        check_response(response_headers, second_request, other_key)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(status=404), SignatureInvalidError, "does not verify"),
        (dict(request_url=URL + "?x=1"), SignatureInvalidError, "does not verify"),
        (dict(body=b'{"envelopes": [], "next": 43}'), DigestMismatchError, "does not match"),
    ],
)
def test_response_tampering_is_refused(origin_key, other_key, change, error, match) -> None:
    """Changing the status, the answered URI or the body is refused."""
    request_headers, response_headers = signed_exchange(origin_key, other_key)
    with pytest.raises(error, match=match):
        check_response(response_headers, request_headers, other_key, **change)


def test_a_request_signature_does_not_pass_as_a_response(origin_key: SigningKey) -> None:
    """Request-style signatures lack the response components and are refused as responses."""
    request_headers = signed_request(origin_key, method="GET", body=b"")
    with pytest.raises(SignatureInvalidError, match="does not cover"):
        check_response(request_headers, request_headers, origin_key, body=b"")


def test_base64_of_rfc_signature_is_standard_not_url_safe() -> None:
    """Byte sequences use standard base64 (RFC 8941 §3.3.5), unlike JWS and envelopes."""
    assert serialize_dictionary({"s": Item(b"\xfb\xff")}) == "s=:+/8=:"
    assert parse_dictionary("s=:+/8=:")["s"] == Item(base64.b64decode("+/8="))
