"""Catalog background jobs. They take ids, load the objects and call a service."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from catalog.previews import services as previews
from catalog.search import indexing


def index_resource(*, resource_id: str) -> None:
    """Bring the search index in line with the resource's current state (index or remove)."""
    import_string(settings.CATALOG_INDEXER)(resource_id=resource_id)


def index_pending_drain() -> int:
    """Bring the search index in line with every change recorded as pending (and delete those rows)."""
    return indexing.index_pending_drain()


def preview_build(*, sha256: str, mime: str) -> None:
    """Render the previews of one stored file content (cover, page thumbnails, a PDF of an office file)."""
    previews.preview_build(sha256=sha256, mime=mime)
