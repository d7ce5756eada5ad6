"""Remix with lineage (众筹众创): deriving a new resource from one whose licence allows it.

Whether the user may derive is ``licensing.decisions.decide(user, source, "derive")`` — the one decision
(ND licences and all-rights-reserved terms refuse with ``derivatives_not_allowed``; a priced resource needs
its grant first). The new resource is a draft of the user's organisation (a publisher, or a teacher sharing
as their school) made by ``catalog.services.resource_create``: the source's description of the lesson, the
source's id in ``rights.derived_from`` (carried in the signed federation record), an attribution crediting
the source, and — for a share-alike source — the source's licence. It goes through the same review as
every new resource; ``licensing.checks.rights_coherent`` checks the lineage again at approval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Resource
from catalog.services import resource_create
from catalog.uploads import UploadedFile
from catalog.validation import METADATA_FIELDS
from exchange.errors import InvalidInputError
from licensing.decisions import Action, decide
from licensing.errors import RemixRefusedError, ShareAlikeNotKeptError

#: Metadata a remix may change; the rest is the source's.
REMIX_FIELDS = ("title", "description", "keywords", "grade", "chapter", "section", "resource_type")


def remix_credit(source: Resource) -> str:
    rights = source.rights
    return _("改编自《%(title)s》，原作 © %(year)s %(holder)s，%(licence)s") % {
        "title": source.title, "year": rights.year, "holder": rights.holder, "licence": rights.license_id}


def resource_remix(*, user: Any, source: Resource, metadata: dict[str, Any] | None = None,
                   license_id: str | None = None, files: Sequence[UploadedFile] = ()) -> Resource:
    """Create a draft derived from ``source``. Raises RemixRefusedError (code = the decision's reason, e.g.
    ``derivatives_not_allowed``) when the licence or terms forbid deriving; ShareAlikeNotKeptError when a
    share-alike source is given another licence; InvalidInputError for metadata the remix may not change;
    what ``resource_create`` raises (PermissionDeniedError when the user may not deposit)."""
    source = Resource.objects.select_related("rights", "rights__license").get(pk=source.pk)
    decision = decide(user, source, Action.DERIVE)
    if not decision.allowed:
        licence = getattr(getattr(source, "rights", None), "license", None)
        kind = ("all_rights_reserved" if licence is not None and not licence.is_open else
                "no_derivatives" if licence is not None and not licence.allows_derivatives else "")
        raise RemixRefusedError(decision, licence_kind=kind)
    changes = dict(metadata or {})
    unknown = sorted(set(changes) - set(REMIX_FIELDS))
    if unknown:
        raise InvalidInputError("A remix may change only " + ", ".join(REMIX_FIELDS) + ".",
                                details={name: ["Not changeable in a remix."] for name in unknown})
    source_licence = source.rights.license
    chosen = license_id or source_licence.pk
    if source_licence.share_alike and chosen != source_licence.pk:
        raise ShareAlikeNotKeptError(details={"source_license": source_licence.pk, "license": chosen})
    base = {name: getattr(source, name) for name in METADATA_FIELDS}
    base["title"] = _("%(title)s（改编）") % {"title": source.title}
    org = getattr(user, "organisation", None)
    rights = {"holder": org.name if org is not None else "", "year": timezone.now().year, "license": chosen,
              "attribution": remix_credit(source)[:500], "audience": source.rights.audience, "price": 0,
              "derived_from": str(source.pk)}
    return resource_create(user=user, metadata={**base, **changes}, rights=rights, files=files)
