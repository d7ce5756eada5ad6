"""Keys and resolvers shared by the federation signing tests (pure Python, no Django needed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from federation.signing import SigningKey, UnknownKeyError, generate_private_key


@pytest.fixture(scope="session")
def origin_key() -> SigningKey:
    """The key of province node ``cn-44``, the origin of the records under test."""
    return SigningKey.from_private_key(generate_private_key())


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    """The key of another node (``cn-hub``), which must never pass for ``cn-44``."""
    return SigningKey.from_private_key(generate_private_key())


@pytest.fixture
def resolve_origin_key(
    origin_key: SigningKey, other_key: SigningKey
) -> Callable[[str, str], Ed25519PublicKey]:
    """Trust store for envelopes: each node id maps to the one key enrolled for it."""
    enrolled = {
        ("cn-44", origin_key.kid): origin_key.public_key,
        ("cn-hub", other_key.kid): other_key.public_key,
    }

    def resolve(origin: str, kid: str) -> Ed25519PublicKey:
        try:
            return enrolled[(origin, kid)]
        except KeyError:
            raise UnknownKeyError(details={"origin": origin, "kid": kid}) from None

    return resolve
