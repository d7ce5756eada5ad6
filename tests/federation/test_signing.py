"""Keys, canonical JSON and signed record envelopes (federation protocol v1)."""

from __future__ import annotations

import copy
import json
import os
import stat
import uuid
from datetime import UTC, datetime

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.errors import ExchangeError
from federation.signing import (
    CanonicalJsonError,
    EnvelopeMalformedError,
    EnvelopeSignatureError,
    EnvelopeTooLargeError,
    KeyInvalidError,
    SigningKey,
    UnknownKeyError,
    canonical_json,
    envelope_from_bytes,
    envelope_hash,
    envelope_to_bytes,
    fingerprint,
    generate_private_key,
    jwk_to_public_key,
    key_id,
    load_private_key,
    parse_json,
    public_key_to_jwk,
    save_private_key,
    sign_envelope,
    sign_envelope_canonical,
    verify_envelope,
)
from federation.signing.encoding import b64url_decode, b64url_encode

# RFC 8037 Appendix A.1-A.3: an Ed25519 key, its public JWK member x, and its RFC 7638 thumbprint.
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

RECORD_ID = "0b6f7a52-3c1e-4d8a-9f3e-2a1b5c6d7e8f"
ISSUED_AT = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


def rfc8037_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D))


def make_record(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": RECORD_ID,
        "title": "七年级数学上册 第一章 有理数 教学设计",
        "stage": "junior",
        "keywords": ["有理数", "数轴"],
        "rights": {"holder": "广东教育出版社", "license": "CC-BY-4.0", "price": 0},
        "files": [{"sha256": "ab" * 32, "size": 48213}],
    }
    record.update(overrides)
    return record


@pytest.fixture
def envelope(origin_key: SigningKey) -> dict[str, object]:
    return sign_envelope(
        record=make_record(),
        kind="upsert",
        origin="cn-44",
        version=3,
        signing_key=origin_key,
        issued_at=ISSUED_AT,
    )


# ---------------------------------------------------------------- keys


def test_key_id_and_jwk_match_rfc8037_vectors() -> None:
    """The JWK of the RFC 8037 key has the RFC's x, and its key id is the RFC 7638 thumbprint of A.3."""
    public_key = rfc8037_key().public_key()
    assert public_key_to_jwk(public_key) == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8037_X,
        "kid": RFC8037_THUMBPRINT,
    }
    assert key_id(public_key) == RFC8037_THUMBPRINT


def test_fingerprint_spells_the_thumbprint_digest_for_humans() -> None:
    """The fingerprint is the thumbprint's SHA-256 as 16 groups of 4 uppercase hex digits."""
    printed = fingerprint(rfc8037_key().public_key())
    assert printed == "90FA CAFE A9B1 5566 9854 0F70 C011 7A22 EA37 BD5C F3ED 3C47 093C 1707 282B 4B89"
    assert bytes.fromhex(printed.replace(" ", "")) == b64url_decode(RFC8037_THUMBPRINT)


def test_jwk_round_trip() -> None:
    """A public key survives JWK export and import unchanged."""
    public_key = generate_private_key().public_key()
    assert key_id(jwk_to_public_key(public_key_to_jwk(public_key))) == key_id(public_key)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"d": RFC8037_D}, "unexpected JWK members"),
        ({"crv": "X25519"}, "only OKP Ed25519"),
        ({"kty": "EC"}, "only OKP Ed25519"),
        ({"x": RFC8037_X[:-4]}, "32 bytes"),
        ({"x": RFC8037_X + "="}, "not base64url"),
        ({"kid": "A" * 43}, "thumbprint"),
    ],
)
def test_jwk_import_refuses_anything_but_a_public_ed25519_key(change: dict[str, str], match: str) -> None:
    """Private material, other curves, bad encodings and a kid that is not the thumbprint are refused."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": RFC8037_THUMBPRINT, **change}
    with pytest.raises(KeyInvalidError, match=match):
        jwk_to_public_key(jwk)


def test_private_key_file_round_trip_is_private(tmp_path: os.PathLike[str]) -> None:
    """A saved key is PEM PKCS#8 with mode 0600 and loads back to the same key; no temp file remains."""
    key = generate_private_key()
    path = os.path.join(tmp_path, "node.key")
    save_private_key(key, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as handle:
        assert handle.read().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert key_id(load_private_key(path).public_key()) == key_id(key.public_key())
    assert os.listdir(tmp_path) == ["node.key"]


def test_saving_never_replaces_an_existing_key_unless_asked(tmp_path: os.PathLike[str]) -> None:
    """An existing key file is kept (FileExistsError); ``overwrite=True`` replaces it atomically."""
    first, second = generate_private_key(), generate_private_key()
    path = os.path.join(tmp_path, "node.key")
    save_private_key(first, path)
    with pytest.raises(FileExistsError, match="already exists"):
        save_private_key(second, path)
    assert key_id(load_private_key(path).public_key()) == key_id(first.public_key())
    save_private_key(second, path, overwrite=True)
    assert key_id(load_private_key(path).public_key()) == key_id(second.public_key())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["node.key"]


def test_loading_refuses_non_ed25519_and_garbage(tmp_path: os.PathLike[str]) -> None:
    """Only Ed25519 private keys load; an EC key or random bytes raise KeyInvalidError."""
    ec_path = os.path.join(tmp_path, "ec.key")
    with open(ec_path, "wb") as handle:
        handle.write(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    with pytest.raises(KeyInvalidError, match="not an Ed25519 private key"):
        load_private_key(ec_path)
    junk_path = os.path.join(tmp_path, "junk.key")
    with open(junk_path, "wb") as handle:
        handle.write(b"not a key")
    with pytest.raises(KeyInvalidError, match="not an unencrypted PEM"):
        load_private_key(junk_path)


def test_base64url_decoding_accepts_only_the_canonical_spelling() -> None:
    """Padding, foreign characters and stray trailing bits are refused, so each value has one spelling."""
    assert b64url_decode(b64url_encode(b"\xff\x00")) == b"\xff\x00"
    for bad in ("_wA=", "_w+A", "_wB", "A"):
        with pytest.raises(ValueError, match="base64url"):
            b64url_decode(bad)


# ---------------------------------------------------------------- canonical JSON (RFC 8785)


def test_jcs_sorts_keys_by_utf16_code_units() -> None:
    """RFC 8785 §3.2.3 sorting example: keys ordered by UTF-16 code units, not code points."""
    source = (
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
        ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis"}'
    )
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",'
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_jcs_string_escaping_and_literals() -> None:
    """RFC 8785 §3.2.2 example, without its numbers: the one escaping of strings, and literals."""
    source = '{"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}'
    expected = '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=4), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_canonical_json_is_byte_identical_to_the_rfc8785_reference(value: object) -> None:
    """The fast path (the C encoder) and the astral-key fallback both give the reference's bytes,
    for any protocol value: every escape, key order (including astral keys), integer and literal."""
    assert canonical_json(value) == rfc8785.dumps(value)


def test_canonical_json_accepts_subclasses_of_json_types() -> None:
    """Enum members and other str/int/dict subclasses serialise as their JSON type."""
    import enum

    class Kind(enum.StrEnum):
        UPSERT = "upsert"

    class Count(enum.IntEnum):
        TWO = 2

    assert canonical_json({"k": Kind.UPSERT, "n": Count.TWO}) == b'{"k":"upsert","n":2}'


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"price": 1.5}, "floating-point"),
        ({"nested": [{"size": 1.0}]}, "floating-point"),
        ({"n": 2**53}, "canonical JSON"),
        ({1: "non-string key"}, "canonical JSON"),
        ({"s": "\ud800"}, "canonical JSON"),
        ({"b": b"bytes"}, "canonical JSON"),
    ],
)
def test_canonical_json_refuses_values_outside_the_protocol(value: object, match: str) -> None:
    """Floats (even integral ones), out-of-range integers, non-string keys and lone surrogates are refused."""
    with pytest.raises(CanonicalJsonError, match=match):
        canonical_json(value)


def test_canonical_json_refuses_cycles() -> None:
    """A self-referencing structure is refused instead of hanging or overflowing the stack."""
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(CanonicalJsonError, match="nested deeper"):
        canonical_json(cyclic)


@pytest.mark.parametrize(
    ("text", "match"),
    [('{"a": 1, "a": 2}', "duplicate object key"), ('{"a": NaN}', "NaN"), (b"\xff", "invalid JSON")],
)
def test_strict_json_parsing(text: str | bytes, match: str) -> None:
    """Duplicate keys, NaN/Infinity and invalid UTF-8 are refused when parsing signed documents."""
    with pytest.raises(CanonicalJsonError, match=match):
        parse_json(text)


# ---------------------------------------------------------------- envelopes


def test_envelope_round_trip(envelope: dict[str, object], origin_key: SigningKey, resolve_origin_key) -> None:
    """A signed envelope has exactly the v1 members and verifies with the origin's key."""
    assert set(envelope) == {"v", "kind", "origin", "id", "version", "issued_at", "kid", "payload", "sig"}
    assert envelope["issued_at"] == "2025-03-01T08:00:00Z"
    assert envelope["kid"] == origin_key.kid
    verified = verify_envelope(envelope, resolve_key=resolve_origin_key)
    assert (verified.kind, verified.origin, verified.id, verified.version) == (
        "upsert",
        "cn-44",
        RECORD_ID,
        3,
    )
    assert verified.issued_at == ISSUED_AT
    assert verified.payload == make_record()
    assert verified.envelope == envelope
    assert verified.content_hash == envelope_hash(envelope) == envelope_hash(json.loads(json.dumps(envelope)))


def test_signature_covers_the_rfc8785_bytes_of_the_envelope_without_sig(
    origin_key: SigningKey, resolve_origin_key
) -> None:
    """What PROTOCOL.md tells other implementers: sign RFC 8785 of every member but ``sig`` (computed
    here with the reference library, independently of the node's own serialiser)."""
    unsigned = {"v": 1, "kind": "upsert", "origin": "cn-44", "id": RECORD_ID, "version": 12,
                "issued_at": "2025-03-01T08:00:00Z", "kid": origin_key.kid, "payload": make_record()}
    envelope = {**unsigned, "sig": b64url_encode(origin_key.sign(rfc8785.dumps(unsigned)))}
    verified = verify_envelope(envelope, resolve_key=resolve_origin_key)
    assert verified.canonical == rfc8785.dumps(envelope)
    assert verify_envelope(json.loads(verified.canonical), resolve_key=resolve_origin_key).id == RECORD_ID
    assert sign_envelope(record=make_record(), kind="upsert", origin="cn-44", version=12,
                         signing_key=origin_key, issued_at=ISSUED_AT) == envelope


def test_a_relay_may_reserialize_but_not_alter(envelope: dict[str, object], resolve_origin_key) -> None:
    """Key order and whitespace do not matter: the signature covers canonical JSON, not the wire text."""
    relayed = json.loads(json.dumps(dict(reversed(list(envelope.items()))), indent=2, ensure_ascii=True))
    assert verify_envelope(relayed, resolve_key=resolve_origin_key).id == RECORD_ID


def test_verified_envelope_is_detached_from_the_input(
    envelope: dict[str, object], resolve_origin_key
) -> None:
    """Mutating the caller's dict after verification does not change what was verified."""
    verified = verify_envelope(envelope, resolve_key=resolve_origin_key)
    envelope["payload"]["title"] = "changed"  # type: ignore[index]
    assert verified.payload["title"] == make_record()["title"]
    assert verified.envelope["payload"]["title"] == make_record()["title"]


def flip_bit(text: str, index: int = 0) -> str:
    return text[:index] + chr(ord(text[index]) ^ 1) + text[index + 1 :]


def flip_signature_bit(sig: str, bit: int = 80) -> str:
    """Flip one bit of the decoded signature, keeping it valid base64url (so only the signature is wrong)."""
    raw = bytearray(b64url_decode(sig))
    raw[bit // 8] ^= 1 << (bit % 8)
    return b64url_encode(bytes(raw))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda e: e["payload"].update(title=flip_bit(e["payload"]["title"])), id="payload-bit-flip"
        ),
        pytest.param(lambda e: e["payload"]["rights"].update(price=100), id="price-raised"),
        pytest.param(lambda e: e["payload"]["files"][0].update(sha256="cd" * 32), id="file-hash-swapped"),
        pytest.param(lambda e: e.update(version=4), id="version-changed"),
        pytest.param(lambda e: e.update(kind="tombstone"), id="kind-changed"),
        pytest.param(lambda e: e.update(issued_at="2025-03-01T08:00:01Z"), id="issued-at-changed"),
        pytest.param(lambda e: e.update(sig=flip_signature_bit(e["sig"])), id="sig-bit-flip"),
    ],
)
def test_any_alteration_breaks_the_envelope_signature(envelope, resolve_origin_key, tamper) -> None:
    """Changing any signed member, or the signature itself, fails with EnvelopeSignatureError."""
    tampered = copy.deepcopy(envelope)
    tamper(tampered)
    with pytest.raises(EnvelopeSignatureError, match="signature is not valid"):
        verify_envelope(tampered, resolve_key=resolve_origin_key)


def test_swapped_origin_is_refused(envelope, resolve_origin_key, origin_key: SigningKey) -> None:
    """Claiming another origin fails: its key is not enrolled for that origin, and the origin is signed."""
    swapped = {**envelope, "origin": "cn-11"}
    with pytest.raises(UnknownKeyError, match="not known"):
        verify_envelope(swapped, resolve_key=resolve_origin_key)
    # Even a trust store that looked keys up by kid alone would refuse it: ``origin`` is signed.
    with pytest.raises(EnvelopeSignatureError, match="not valid"):
        verify_envelope(swapped, resolve_key=lambda origin, kid: origin_key.public_key)


def test_a_relay_cannot_resign_another_nodes_record(
    envelope, resolve_origin_key, origin_key, other_key
) -> None:
    """The hub re-signing a cn-44 record is refused, whether it names its own kid or cn-44's."""
    payload = copy.deepcopy(envelope["payload"])
    payload["rights"]["price"] = 50
    forged = sign_envelope(record=payload, kind="upsert", origin="cn-44", version=4, signing_key=other_key)
    with pytest.raises(UnknownKeyError, match="not known"):
        verify_envelope(forged, resolve_key=resolve_origin_key)
    impostor = SigningKey(private_key=other_key.private_key, kid=origin_key.kid)
    forged = sign_envelope(record=payload, kind="upsert", origin="cn-44", version=4, signing_key=impostor)
    with pytest.raises(EnvelopeSignatureError, match="not valid"):
        verify_envelope(forged, resolve_key=resolve_origin_key)


def test_resolved_key_must_be_the_named_kid(envelope, other_key: SigningKey) -> None:
    """A trust store that returns a key whose thumbprint is not the envelope's kid is refused."""
    with pytest.raises(UnknownKeyError, match="does not match kid"):
        verify_envelope(envelope, resolve_key=lambda origin, kid: other_key.public_key)


def test_key_error_from_the_resolver_means_unknown_key(envelope) -> None:
    """A plain dict lookup can serve as the resolver: its KeyError becomes UnknownKeyError."""
    with pytest.raises(UnknownKeyError, match="not known"):
        verify_envelope(envelope, resolve_key=lambda origin, kid: {}[kid])


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (lambda e: e.pop("issued_at"), "members differ"),
        (lambda e: e.update(extra=1), "members differ"),
        (lambda e: e.update(v=2), "unsupported envelope format"),
        (lambda e: e.update(v=True), "unsupported envelope format"),
        (lambda e: e.update(kind="delete"), "unknown envelope kind"),
        (lambda e: e.update(origin="CN 44"), "origin is not a node id"),
        (lambda e: e.update(origin=44), "origin is not a node id"),
        (lambda e: e.update(id=e["id"].upper()), "canonical lowercase UUID"),
        (lambda e: e.update(version=0), "positive integer"),
        (lambda e: e.update(version="3"), "positive integer"),
        (lambda e: e.update(version=True), "positive integer"),
        (lambda e: e.update(version=2**53), "canonical JSON"),
        (lambda e: e.update(issued_at="2025-03-01T08:00:00+00:00"), "issued_at"),
        (lambda e: e.update(kid="short"), "kid is not"),
        (lambda e: e["payload"].update(id=str(uuid.uuid4())), "payload must be an object whose id"),
        (lambda e: e.update(payload=[]), "payload must be an object"),
        (lambda e: e["payload"].update(score=0.5), "floating-point"),
        (lambda e: e.update(sig=e["sig"][:-4]), "sig is not"),
        (lambda e: e.update(sig=e["sig"] + "=="), "sig is not"),
    ],
)
def test_structure_is_checked_before_the_signature(envelope, tamper, match: str) -> None:
    """Malformed envelopes fail with EnvelopeMalformedError before any key is looked up."""
    malformed = copy.deepcopy(envelope)
    tamper(malformed)

    def resolver_must_not_be_called(origin: str, kid: str):
        raise AssertionError("key resolved for a malformed envelope")

    with pytest.raises(EnvelopeMalformedError, match=match):
        verify_envelope(malformed, resolve_key=resolver_must_not_be_called)


@pytest.mark.parametrize(
    ("record", "kind", "version", "match"),
    [
        ({"title": "no id"}, "upsert", 1, "canonical lowercase UUID"),
        (make_record(), "publish", 1, "unknown envelope kind"),
        (make_record(), "upsert", 0, "positive integer"),
        (make_record(score=0.5), "upsert", 1, "floating-point"),
    ],
)
def test_signing_refuses_what_receivers_would_refuse(origin_key, record, kind, version, match) -> None:
    """The origin cannot produce an envelope that every receiver would reject."""
    with pytest.raises(EnvelopeMalformedError, match=match):
        sign_envelope(record=record, kind=kind, origin="cn-44", version=version, signing_key=origin_key)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_signing_gives_the_envelopes_canonical_bytes(extra: object) -> None:
    """The bytes ``sign_envelope_canonical`` returns (stored and hashed by the feed without serialising
    again) are exactly the envelope's canonical JSON, whatever the record holds — astral keys, escapes,
    and a member named ``sig`` holding a placeholder-like value — and the envelope verifies."""
    key = SigningKey.from_private_key(rfc8037_key())
    rights = {"holder": "广东教育出版社", "sig": b64url_encode(bytes(64)), "x": extra, "\U0001f600": extra}
    record = make_record(rights=rights)  # inside a known member: any size up to the envelope's bound
    envelope, canonical = sign_envelope_canonical(record=record, kind="upsert", origin="cn-44", version=2,
                                                  signing_key=key, issued_at=ISSUED_AT)
    assert canonical == envelope_to_bytes(envelope) == rfc8785.dumps(envelope)
    verified = verify_envelope(envelope, resolve_key=lambda origin, kid: key.public_key)
    assert verified.canonical == canonical
    assert envelope == sign_envelope(record=record, kind="upsert", origin="cn-44", version=2, signing_key=key,
                                     issued_at=ISSUED_AT)


def test_signing_refuses_records_nested_too_deep(origin_key) -> None:
    """The payload is parsed from the record's canonical bytes; nesting receivers refuse is refused first."""
    deep: object = "leaf"
    for _ in range(70):
        deep = [deep]
    with pytest.raises(EnvelopeMalformedError, match="nested deeper"):
        sign_envelope_canonical(record=make_record(notes=deep), kind="upsert", origin="cn-44", version=1,
                                signing_key=origin_key)


def test_signed_envelope_holds_json_types_only(origin_key) -> None:
    """What the origin keeps is what receivers parse: tuples as lists, str subclasses as str; the
    caller's record is not shared with the envelope."""
    class Stage(str):
        pass

    record = make_record(keywords=("有理数", "数轴"), stage=Stage("junior"))
    envelope, canonical = sign_envelope_canonical(record=record, kind="upsert", origin="cn-44", version=1,
                                                  signing_key=origin_key, issued_at=ISSUED_AT)
    assert envelope == json.loads(canonical)
    assert envelope["payload"]["keywords"] == ["有理数", "数轴"] and type(envelope["payload"]["stage"]) is str
    assert envelope["payload"] is not record
    envelope["payload"]["title"] = "changed"
    assert record["title"] != "changed"


def test_signing_refusals_keep_their_kind_and_message(origin_key) -> None:
    """A record that is no canonical JSON is named as such; an oversized one is EnvelopeTooLargeError."""
    with pytest.raises(EnvelopeMalformedError, match="^record is not canonical JSON: floating-point"):
        sign_envelope(record=make_record(score=0.5), kind="upsert", origin="cn-44", version=1, signing_key=origin_key)
    with pytest.raises(EnvelopeTooLargeError):
        sign_envelope(record=make_record(description="长" * 100_000), kind="upsert", origin="cn-44", version=1,
                      signing_key=origin_key)


def test_envelope_bytes_round_trip_only_in_canonical_form(envelope, resolve_origin_key) -> None:
    """Stored canonical bytes load back; any other spelling of the same envelope is refused."""
    raw = envelope_to_bytes(envelope)
    assert verify_envelope(
        envelope_from_bytes(raw), resolve_key=resolve_origin_key
    ).content_hash == envelope_hash(envelope)
    with pytest.raises(EnvelopeMalformedError, match="not in canonical form"):
        envelope_from_bytes(json.dumps(envelope).encode())
    with pytest.raises(EnvelopeMalformedError, match="JSON object"):
        envelope_from_bytes(b"[]")


json_leaves = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    record_id=st.uuids(),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: k != "id"), json_values, max_size=4
    ),
    kind=st.sampled_from(["upsert", "tombstone", "takedown", "rights"]),
    version=st.integers(1, 2**53 - 1),
    data=st.data(),
)
def test_any_single_byte_mutation_of_a_canonical_envelope_is_refused(
    origin_key, resolve_origin_key, record_id, extra, kind, version, data
) -> None:
    """Whatever the record, changing any one byte of the stored envelope to any other value is refused."""
    envelope = sign_envelope(
        record={**extra, "id": str(record_id)},
        kind=kind,
        origin="cn-44",
        version=version,
        signing_key=origin_key,
    )
    raw = envelope_to_bytes(envelope)
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]), label="byte")
    mutated = raw[:position] + bytes([replacement]) + raw[position + 1 :]
    with pytest.raises(ExchangeError) as caught:
        verify_envelope(envelope_from_bytes(mutated), resolve_key=resolve_origin_key)
    assert isinstance(caught.value, EnvelopeMalformedError | EnvelopeSignatureError | UnknownKeyError)
