"""What happens when a resource changes: hooks run inside the same transaction (the federation
outbox registers one, so a change and its feed entry commit together), and the search index is
updated by a job after commit."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from catalog.models import Resource
from exchange.jobs import enqueue_on_commit


@cache
def _hooks(paths: tuple[str, ...]):
    return [import_string(path) for path in paths]


def resource_changed(resource: Resource, *, kind: str, reason: str = "") -> None:
    """Call in the transaction that changed ``resource``. ``kind`` is ``upsert`` or ``withdraw``
    (plus any kind a hook understands, e.g. ``rights``); ``reason`` explains withdrawals."""
    for hook in _hooks(tuple(settings.CATALOG_CHANGE_HOOKS)):
        hook(resource=resource, kind=kind, reason=reason)
    enqueue_on_commit("catalog.jobs.index_resource", resource_id=str(resource.pk))


def resources_imported(resource_ids: list[str]) -> None:
    """Call in the transaction that bulk-created these published local resources (the importer):
    ``CATALOG_BULK_CHANGE_HOOKS`` hear of them together, as ``resource_changed`` hooks hear of one
    (the federation outbox signs their envelopes in the same transaction). Indexing is the
    importer's own business (it indexes per batch, or not at all with ``--no-index``)."""
    for hook in _hooks(tuple(settings.CATALOG_BULK_CHANGE_HOOKS)):
        hook(resource_ids=resource_ids)
