"""Fixtures of the teacher-space tests."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(autouse=True)
def isolated_search_index(settings, tmp_path):
    """Indexing jobs (run when a test executes on-commit callbacks) write into this test's own index."""
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    settings.ELASTICSEARCH_INDEX_PREFIX = f"test-spaces-{uuid.uuid4().hex[:12]}"
