"""What happens when a resource changes: hooks run inside the same transaction (the federation
outbox registers one, so a change and its feed entry commit together), and the search index is
updated after commit from an ``IndexPending`` row written in that same transaction (see
``catalog.search.indexing``), so a crash between the commit and the index write loses nothing."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from catalog.models import Resource
from catalog.search.indexing import index_pending_drain_on_commit, index_pending_record


@cache
def _hooks(paths: tuple[str, ...]):
    return [import_string(path) for path in paths]


def resource_changed(resource: Resource, *, kind: str, reason: str = "") -> None:
    """Call in the transaction that changed ``resource``. ``kind`` is ``upsert`` or ``withdraw``
    (plus any kind a hook understands, e.g. ``rights``); ``reason`` explains withdrawals."""
    for hook in _hooks(tuple(settings.CATALOG_CHANGE_HOOKS)):
        hook(resource=resource, kind=kind, reason=reason)
    index_pending_record([resource.pk])
    index_pending_drain_on_commit()


def resources_imported(resource_ids: list[str], *, index: bool = True) -> None:
    """Call in the transaction that bulk-created these published local resources (the importer):
    ``CATALOG_BULK_CHANGE_HOOKS`` hear of them together, as ``resource_changed`` hooks hear of one
    (the federation outbox signs their envelopes in the same transaction), and with ``index`` they
    are recorded as pending for the index in that transaction (the importer drains after each
    batch; ``--no-index`` leaves indexing to ``rebuild_index``)."""
    for hook in _hooks(tuple(settings.CATALOG_BULK_CHANGE_HOOKS)):
        hook(resource_ids=resource_ids)
    if index:
        index_pending_record(resource_ids)
    resources_published(resource_ids)


def resources_published(resource_ids: list[str]) -> None:
    """Call in the transaction that made these resources public on this node — published here, imported, or
    applied from another node's records (``catalog.remote``): after commit each ``CATALOG_PUBLISHED_HOOKS``
    entry is called with their ids (the teachers' new-resources feed), whichever way they came. Nothing is
    called when the transaction rolls back."""
    ids = [str(pk) for pk in resource_ids]
    if not ids:
        return
    hooks = _hooks(tuple(settings.CATALOG_PUBLISHED_HOOKS))
    if hooks:
        transaction.on_commit(lambda: [hook(resource_ids=ids) for hook in hooks])
