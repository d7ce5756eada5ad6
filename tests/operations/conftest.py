"""Fixtures of the backup tests."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def reload_base_data_after_flush(django_db_blocker):
    """Request it before ``transactional_db``: its teardown (after the flush that empties every table)
    reloads what ``tests/conftest.py`` loads once per session."""
    yield
    from catalog.vocab import vocabularies_load
    from exchange.services import roles_ensure

    with django_db_blocker.unblock():
        vocabularies_load()
        roles_ensure()


@pytest.fixture
def committed_orgs(reload_base_data_after_flush, transactional_db, province):
    """The demo organisations, committed (other connections and processes see them)."""
    return factories.demo_organisations(province)
