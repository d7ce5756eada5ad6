"""Compact JWS (RFC 7515 / RFC 8037), hub-issued node certificates and revocation lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.errors import InvalidInputError
from federation.signing import (
    CERTIFICATE_TYPE,
    CertificateExpiredError,
    CertificateInvalidError,
    CertificateNotYetValidError,
    CertificateRevokedError,
    JwsInvalidError,
    KeyInvalidError,
    RevocationListInvalidError,
    RevocationListStaleError,
    SigningKey,
    UnknownKeyError,
    generate_private_key,
    issue_certificate,
    issue_revocation_list,
    jwk_to_public_key,
    jws_sign,
    jws_verify,
    jws_verify_compact,
    public_key_to_jwk,
    verify_certificate,
    verify_revocation_list,
)
from federation.signing.encoding import b64url_decode, b64url_encode

# RFC 8037 Appendix A.1 private key and A.4 JWS over "Example of Ed25519 signing".
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

START = datetime(2025, 3, 1, 0, 0, 0, tzinfo=UTC)
END = START + timedelta(days=7)


@pytest.fixture(scope="module")
def hub_key() -> SigningKey:
    return SigningKey.from_private_key(generate_private_key())


@pytest.fixture(scope="module")
def node_key() -> SigningKey:
    return SigningKey.from_private_key(generate_private_key())


@pytest.fixture
def hub_keys(hub_key: SigningKey) -> dict:
    return {hub_key.kid: hub_key.public_key}


def certificate(hub: SigningKey, node: SigningKey, **overrides) -> str:
    arguments = dict(
        hub_key=hub.private_key,
        hub_kid=hub.kid,
        hub_id="cn-hub",
        node_id="cn-44",
        role="province",
        region="440000",
        node_public_jwk=public_key_to_jwk(node.public_key),
        not_before=START,
        not_after=END,
    )
    arguments.update(overrides)
    return issue_certificate(**arguments)


def rewrite_payload(token: str, **claims) -> str:
    """Change claims but keep the original signature, as an attacker editing a token would."""
    header, payload, signature = token.split(".")
    decoded = json.loads(b64url_decode(payload))
    decoded.update(claims)
    return ".".join([header, b64url_encode(json.dumps(decoded).encode()), signature])


# ---------------------------------------------------------------- JWS


def test_rfc8037_a4_jws_verifies() -> None:
    """The RFC 8037 A.4 example token verifies with the A.1 key and yields its payload bytes."""
    public_key = Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D)).public_key()
    header, payload = jws_verify_compact(RFC8037_JWS, public_key)
    assert header == {"alg": "EdDSA"}
    assert payload == b"Example of Ed25519 signing"
    with pytest.raises(JwsInvalidError, match="does not verify"):
        jws_verify_compact(RFC8037_JWS.replace("RXhhbXBsZSBvZi", "RXhhbXBsZSBvZy"), public_key)


def test_jws_round_trip(hub_key: SigningKey, hub_keys: dict) -> None:
    """A signed token carries alg, kid and typ, and verifies to the same payload."""
    token = jws_sign({"b": 2, "a": [1, "二"]}, key=hub_key.private_key, kid=hub_key.kid, typ="test+jwt")
    assert b64url_decode(token.split(".")[1]) == '{"a":[1,"二"],"b":2}'.encode()
    header, payload = jws_verify(token, resolve_key=hub_keys.__getitem__, typ="test+jwt")
    assert header == {"alg": "EdDSA", "kid": hub_key.kid, "typ": "test+jwt"}
    assert payload == {"a": [1, "二"], "b": 2}


def forged_header(header: dict, token: str) -> str:
    return ".".join([b64url_encode(json.dumps(header).encode()), *token.split(".")[1:]])


@pytest.mark.parametrize(
    ("forge", "match"),
    [
        (
            lambda t, kid: forged_header({"alg": "none", "kid": kid, "typ": "test+jwt"}, t),
            "alg must be EdDSA",
        ),
        (
            lambda t, kid: forged_header({"alg": "HS256", "kid": kid, "typ": "test+jwt"}, t),
            "alg must be EdDSA",
        ),
        (
            lambda t, kid: forged_header({"alg": "EdDSA", "kid": kid, "typ": "test+jwt", "crit": ["x"]}, t),
            "critical",
        ),
        (
            lambda t, kid: forged_header({"alg": "EdDSA", "kid": kid, "typ": "other+jwt"}, t),
            "type 'test\\+jwt'",
        ),
        (lambda t, kid: forged_header({"alg": "EdDSA", "typ": "test+jwt"}, t), "kid must be"),
        (lambda t, kid: t + "=", "not base64url"),
        (lambda t, kid: t.rpartition(".")[0], "three dot-separated parts"),
        (lambda t, kid: rewrite_payload(t, admin=True), "does not verify"),
        (lambda t, kid: '{"alg":"EdDSA"}.' + t.split(".", 1)[1], "header is not base64url JSON"),
    ],
)
def test_jws_forgeries_are_refused(hub_key: SigningKey, hub_keys: dict, forge, match: str) -> None:
    """alg downgrades, crit extensions, wrong typ, missing kid and edited tokens are all refused."""
    token = jws_sign({"sub": "cn-44"}, key=hub_key.private_key, kid=hub_key.kid, typ="test+jwt")
    with pytest.raises(JwsInvalidError, match=match):
        jws_verify(forge(token, hub_key.kid), resolve_key=hub_keys.__getitem__, typ="test+jwt")


def test_jws_with_unknown_kid(node_key: SigningKey, hub_keys: dict) -> None:
    """A token whose kid is not in the trust store fails with UnknownKeyError."""
    token = jws_sign({"sub": "cn-44"}, key=node_key.private_key, kid=node_key.kid, typ="test+jwt")
    with pytest.raises(UnknownKeyError, match="not known"):
        jws_verify(token, resolve_key=hub_keys.__getitem__)


def test_jws_payload_must_be_an_object_without_duplicate_keys(hub_key: SigningKey, hub_keys: dict) -> None:
    """Signed payloads that are not a JSON object, or repeat a key, are refused after verification."""
    header = b64url_encode(json.dumps({"alg": "EdDSA", "kid": hub_key.kid}).encode())
    for payload, match in ((b"[1]", "JSON object"), (b'{"sub":"a","sub":"b"}', "not JSON")):
        signing_input = f"{header}.{b64url_encode(payload)}"
        token = f"{signing_input}.{b64url_encode(hub_key.sign(signing_input.encode()))}"
        with pytest.raises(JwsInvalidError, match=match):
            jws_verify(token, resolve_key=hub_keys.__getitem__)


# ---------------------------------------------------------------- node certificates


def test_certificate_round_trip(hub_key: SigningKey, node_key: SigningKey, hub_keys: dict) -> None:
    """A certificate names the node, its role, region and key, and its validity, as the hub issued it."""
    token = certificate(hub_key, node_key, serial="serial-1")
    cert = verify_certificate(
        token, hub_public_keys=hub_keys, now=START + timedelta(days=1), revoked=set(), hub_id="cn-hub"
    )
    assert (cert.node_id, cert.role, cert.region, cert.issuer) == ("cn-44", "province", "440000", "cn-hub")
    assert cert.serial == "serial-1"
    assert cert.kid == node_key.kid == cert.public_jwk["kid"]
    assert (cert.not_before, cert.not_after) == (START, END)
    assert public_key_to_jwk(cert.public_key) == public_key_to_jwk(node_key.public_key)


def test_certificate_validity_window(hub_key: SigningKey, node_key: SigningKey, hub_keys: dict) -> None:
    """Valid from not_before inclusive to not_after exclusive; outside it, not yet valid or expired."""
    token = certificate(hub_key, node_key)
    assert verify_certificate(token, hub_public_keys=hub_keys, now=START, revoked=()).node_id == "cn-44"
    with pytest.raises(CertificateNotYetValidError, match="not valid yet"):
        verify_certificate(token, hub_public_keys=hub_keys, now=START - timedelta(seconds=1), revoked=())
    with pytest.raises(CertificateExpiredError, match="expired"):
        verify_certificate(token, hub_public_keys=hub_keys, now=END, revoked=())


def test_revoked_certificate(hub_key: SigningKey, node_key: SigningKey, hub_keys: dict) -> None:
    """A serial on the verified revocation list is refused with CertificateRevokedError (403)."""
    token = certificate(hub_key, node_key, serial="serial-9")
    revocations = verify_revocation_list(
        issue_revocation_list(
            hub_key=hub_key.private_key,
            hub_kid=hub_key.kid,
            hub_id="cn-hub",
            serials=["serial-9"],
            number=3,
            issued_at=START,
        ),
        hub_keys,
    )
    with pytest.raises(CertificateRevokedError, match="revoked") as caught:
        verify_certificate(token, hub_public_keys=hub_keys, now=START, revoked=revocations)
    assert caught.value.http_status == 403


def test_certificate_from_another_issuer(hub_key: SigningKey, node_key: SigningKey, hub_keys: dict) -> None:
    """Certificates signed by an untrusted key, or by a trusted key for another hub id, are refused."""
    rogue = SigningKey.from_private_key(generate_private_key())
    with pytest.raises(CertificateInvalidError, match="not signed by a trusted hub key"):
        verify_certificate(certificate(rogue, node_key), hub_public_keys=hub_keys, now=START, revoked=())
    impostor = SigningKey(private_key=rogue.private_key, kid=hub_key.kid)
    with pytest.raises(CertificateInvalidError, match="does not verify"):
        verify_certificate(certificate(impostor, node_key), hub_public_keys=hub_keys, now=START, revoked=())
    with pytest.raises(CertificateInvalidError, match="issued by 'cn-hub', not by 'cn-hub-2'"):
        verify_certificate(
            certificate(hub_key, node_key), hub_public_keys=hub_keys, now=START, revoked=(), hub_id="cn-hub-2"
        )


@pytest.mark.parametrize(
    "claims",
    [{"sub": "cn-11"}, {"role": "hub"}, {"exp": 4102444800}, {"cnf": {"jwk": {"kty": "OKP"}}}],
)
def test_edited_certificate_claims_are_refused(hub_key, node_key, hub_keys, claims: dict) -> None:
    """Changing the node id, role, validity or key of an issued certificate breaks the hub's signature."""
    token = rewrite_payload(certificate(hub_key, node_key), **claims)
    with pytest.raises(CertificateInvalidError, match="does not verify"):
        verify_certificate(token, hub_public_keys=hub_keys, now=START, revoked=())


def test_other_token_types_are_not_certificates(hub_key: SigningKey, hub_keys: dict) -> None:
    """A revocation list signed by the same hub key cannot be presented as a certificate."""
    token = issue_revocation_list(
        hub_key=hub_key.private_key,
        hub_kid=hub_key.kid,
        hub_id="cn-hub",
        serials=[],
        number=1,
        issued_at=START,
    )
    with pytest.raises(CertificateInvalidError, match="exchange-node-cert"):
        verify_certificate(token, hub_public_keys=hub_keys, now=START, revoked=())


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"role": "relay"}, InvalidInputError, "role must be one of"),
        ({"node_id": "CN 44"}, InvalidInputError, "node ids"),
        ({"region": ""}, InvalidInputError, "region"),
        ({"not_after": START}, InvalidInputError, "must precede"),
        ({"not_before": datetime(2025, 3, 1)}, InvalidInputError, "timezone-aware"),
        (
            {"node_public_jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AA", "d": "AA"}},
            KeyInvalidError,
            "unexpected",
        ),
    ],
)
def test_issuing_validates_its_input(hub_key, node_key, overrides, error, match) -> None:
    """The hub refuses to issue a certificate that verifiers would misread or reject."""
    with pytest.raises(error, match=match):
        certificate(hub_key, node_key, **overrides)


def test_certificate_type_is_explicit(hub_key: SigningKey, node_key: SigningKey) -> None:
    """Certificates declare their typ so no other signed token can be confused with one."""
    header = json.loads(b64url_decode(certificate(hub_key, node_key).split(".")[0]))
    assert header == {"alg": "EdDSA", "kid": hub_key.kid, "typ": CERTIFICATE_TYPE}
    assert jwk_to_public_key(public_key_to_jwk(node_key.public_key))


# ---------------------------------------------------------------- revocation lists


def revocation_list(hub: SigningKey, number: int, serials: list[str], hub_id: str = "cn-hub") -> str:
    return issue_revocation_list(
        hub_key=hub.private_key,
        hub_kid=hub.kid,
        hub_id=hub_id,
        serials=serials,
        number=number,
        issued_at=START,
    )


def test_revocation_list_round_trip(hub_key: SigningKey, hub_keys: dict) -> None:
    """A verified list exposes its issuer, number, issue time and the revoked serials."""
    verified = verify_revocation_list(revocation_list(hub_key, 7, ["b", "a", "a"]), hub_keys, hub_id="cn-hub")
    assert (verified.issuer, verified.number, verified.issued_at) == ("cn-hub", 7, START)
    assert verified.serials == frozenset({"a", "b"})
    assert "a" in verified and "c" not in verified


def test_an_older_list_cannot_replace_a_newer_one(hub_key: SigningKey, hub_keys: dict) -> None:
    """Only a strictly higher number may replace the list held; older or equal ones are stale."""
    older = verify_revocation_list(revocation_list(hub_key, 4, []), hub_keys)
    older.ensure_newer_than(None)
    older.ensure_newer_than(3)
    for current in (4, 5):
        with pytest.raises(RevocationListStaleError, match="older than the current one"):
            older.ensure_newer_than(current)


def test_forged_revocation_lists_are_refused(
    hub_key: SigningKey, node_key: SigningKey, hub_keys: dict
) -> None:
    """Lists signed by another key, edited after signing, or naming another hub are refused."""
    with pytest.raises(RevocationListInvalidError, match="trusted hub key"):
        verify_revocation_list(revocation_list(node_key, 9, []), hub_keys)
    with pytest.raises(RevocationListInvalidError, match="does not verify"):
        verify_revocation_list(rewrite_payload(revocation_list(hub_key, 9, ["x"]), revoked=[]), hub_keys)
    with pytest.raises(RevocationListInvalidError, match="unexpected hub"):
        verify_revocation_list(revocation_list(hub_key, 9, [], hub_id="cn-hub-2"), hub_keys, hub_id="cn-hub")
    with pytest.raises(RevocationListInvalidError, match="exchange-revocations"):
        verify_revocation_list(certificate(hub_key, node_key), hub_keys)


def test_revocation_list_number_must_be_positive(hub_key: SigningKey) -> None:
    """Numbering starts at 1 so "no list yet" (None) is always older than any list."""
    with pytest.raises(InvalidInputError, match="positive integer"):
        revocation_list(hub_key, 0, [])
