"""Ed25519 node keys: generation, PEM files, JWKs, key ids and human fingerprints.

Every key in the protocol is Ed25519 (RFC 8032). A public key is named everywhere by its **key id**:
the RFC 7638 JWK thumbprint (base64url SHA-256 of ``{"crv","kty","x"}``), so ids are derived from the
key itself, never assigned, and two nodes cannot disagree about which key an id means. The
**fingerprint** is the same SHA-256 in uppercase hex groups, for operators to read aloud or compare
on paper when a province enrols (the out-of-band check in the trust model).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from federation.signing.canonical import canonical_json
from federation.signing.encoding import b64url_decode, b64url_encode
from federation.signing.errors import KeyInvalidError

#: Members a public Ed25519 JWK may carry; anything else (notably the private ``d``) is refused.
_JWK_ALLOWED_MEMBERS = frozenset({"kty", "crv", "x", "kid", "alg", "use"})


@dataclass(frozen=True)
class SigningKey:
    """A private key together with the key id peers know it by."""

    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        """Wrap ``private_key`` with its RFC 7638 key id."""
        return cls(private_key=private_key, kid=key_id(private_key.public_key()))

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``data``."""
        return self.private_key.sign(data)


def generate_private_key() -> Ed25519PrivateKey:
    """Create a fresh Ed25519 private key from the operating system's CSPRNG."""
    return Ed25519PrivateKey.generate()


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read an unencrypted PEM (PKCS#8) Ed25519 private key.

    Raises KeyInvalidError when the file is not PEM, is encrypted, or holds another key type;
    ``OSError`` (e.g. ``FileNotFoundError``) propagates unchanged.
    """
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyInvalidError(f"{path}: not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyInvalidError(f"{path}: not an Ed25519 private key")
    return key


def save_private_key(
    key: Ed25519PrivateKey, path: str | os.PathLike[str], *, overwrite: bool = False
) -> None:
    """Write ``key`` as PEM PKCS#8 with mode 0600, atomically.

    The key is written and fsynced to a private temporary file in the same directory, then moved into
    place: ``os.link`` when ``overwrite`` is false (atomic, and fails if the file exists) or
    ``os.replace`` otherwise. A crash never leaves a half-written key, and a node's identity is never
    replaced by accident. Raises FileExistsError when ``path`` exists and ``overwrite`` is false.
    """
    target = Path(path)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} already exists")
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp_name, target)
        else:
            os.link(tmp_name, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    _fsync_directory(target.parent)


def public_key_to_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """Return the public JWK (RFC 8037 ``OKP``/``Ed25519``) of ``public_key``, with its ``kid``."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(_raw_public_bytes(public_key))}
    jwk["kid"] = _thumbprint(jwk)
    return jwk


def jwk_to_public_key(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    """Load an Ed25519 public key from its JWK.

    Raises KeyInvalidError when the JWK is not a public ``OKP``/``Ed25519`` key, carries private
    material (``d``) or unknown members, or names a ``kid`` other than its own thumbprint.
    """
    if not isinstance(jwk, Mapping):
        raise KeyInvalidError("a JWK must be a JSON object")
    extra = set(jwk) - _JWK_ALLOWED_MEMBERS
    if extra:
        raise KeyInvalidError(f"unexpected JWK members: {sorted(extra)}")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise KeyInvalidError("only OKP Ed25519 keys are accepted")
    try:
        raw = b64url_decode(jwk.get("x"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise KeyInvalidError("JWK member x is not base64url") from exc
    if len(raw) != 32:
        raise KeyInvalidError("an Ed25519 public key is 32 bytes")
    public_key = Ed25519PublicKey.from_public_bytes(raw)
    kid = jwk.get("kid")
    if kid is not None and kid != key_id(public_key):
        raise KeyInvalidError("JWK kid is not the key's RFC 7638 thumbprint")
    return public_key


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the RFC 7638 JWK thumbprint of ``public_key``: the key's id throughout the protocol."""
    return _thumbprint({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(_raw_public_bytes(public_key))})


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """Return the key's thumbprint digest as 16 uppercase hex groups, e.g. ``"90FA CAFE …"``.

    It is the same SHA-256 as :func:`key_id`, spelled for humans comparing keys out of band.
    """
    digest = b64url_decode(key_id(public_key)).hex().upper()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    if not isinstance(public_key, Ed25519PublicKey):
        raise KeyInvalidError("not an Ed25519 public key")
    return public_key.public_bytes(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


def _thumbprint(jwk: Mapping[str, str]) -> str:
    # RFC 7638 §3.2: required members only, sorted, no whitespace; JCS yields exactly that form.
    required = canonical_json({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]})
    return b64url_encode(hashlib.sha256(required).digest())


def _fsync_directory(directory: Path) -> None:
    """Persist the new directory entry, so the key survives a power loss right after it is written."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
