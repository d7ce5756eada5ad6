"""Fixtures of the backup tests."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def committed_orgs(committed_db, province):
    """The demo organisations, committed (other connections and processes see them)."""
    return factories.demo_organisations(province)
