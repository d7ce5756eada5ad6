"""A resource's rights statement as an ODRL 2.2 policy in JSON-LD, so other systems can read the terms.

The policy is an ``Offer`` from the rights holder (``assigner``) on the resource (``target``):

* one permission to ``use`` (plus ``reproduce``/``distribute`` for open licences, ``derive`` where
  derivatives are allowed) constrained to the territory (``spatial``; GB/T 2260 region codes, or the
  whole country), the audience (``recipient``), the embargo and the end of term (``dateTime``), with a
  ``compensate`` duty for the voucher price when there is one and an ``attribute`` duty when the
  licence asks for attribution;
* for each free-for school category the statement names, a permission with the same constraints
  whose ``assignee`` is the collection of those schools, without the ``compensate`` duty;
* prohibitions for what the licence forbids: ``derive`` (ND, all rights reserved) and commercial use
  (``cc:CommercialUse`` for NC licences, since ``odrl:commercialize`` is deprecated in 2.2).

Identifiers of regions, categories, audiences and the voucher unit are URNs of this exchange.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from catalog.models import Resource
from licensing.attribution import resource_source_url

ODRL_CONTEXT: list[Any] = [
    "http://www.w3.org/ns/odrl.jsonld",
    {"cc": "http://creativecommons.org/ns#", "dc": "http://purl.org/dc/terms/",
     "vcard": "http://www.w3.org/2006/vcard/ns#", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
     "xsd": "http://www.w3.org/2001/XMLSchema#"},
]
URN = "urn:cn-edu-exchange"
NATIONWIDE = "urn:iso:std:iso:3166:-1:CN"
VOUCHER_UNIT = f"{URN}:unit:voucher"


def region_uri(code: str) -> str:
    return f"urn:gbt2260:{code}"


def category_uri(category: str) -> str:
    return f"{URN}:school-category:{category}"


def audience_uri(audience: str) -> str:
    return f"{URN}:audience:{audience}"


def _constraints(rights) -> list[dict[str, Any]]:
    territory = list(rights.territory or [])
    out: list[dict[str, Any]] = [
        {"leftOperand": "spatial", "operator": "isAnyOf", "rightOperand": [{"@id": region_uri(c)} for c in territory]}
        if territory else {"leftOperand": "spatial", "operator": "eq", "rightOperand": {"@id": NATIONWIDE}},
    ]
    if rights.audience != "public":
        out.append({"leftOperand": "recipient", "operator": "isA",
                    "rightOperand": {"@id": audience_uri(rights.audience)}})
    if rights.embargo_until:
        out.append({"leftOperand": "dateTime", "operator": "gteq",
                    "rightOperand": {"@value": rights.embargo_until.isoformat(), "@type": "xsd:date"}})
    if rights.term_end:
        out.append({"leftOperand": "dateTime", "operator": "lteq",
                    "rightOperand": {"@value": rights.term_end.isoformat(), "@type": "xsd:date"}})
    return out


def _actions(licence) -> list[str]:
    actions = ["use"]
    if licence.is_open:
        actions += ["reproduce", "distribute"]
    if licence.allows_derivatives:
        actions.append("derive")
    return actions


def rights_policy(resource: Resource) -> dict[str, Any]:
    """The ODRL 2.2 policy (JSON-LD) of ``resource``'s rights statement."""
    rights = resource.rights
    licence = rights.license
    target = f"urn:uuid:{resource.pk}"
    holder = {"@type": "Party", "uid": f"{URN}:holder:{resource.publisher_id or resource.origin_node}",
              "vcard:fn": rights.holder}
    constraints = _constraints(rights)
    base_duties: list[dict[str, Any]] = []
    if licence.attribution_required:
        base_duties.append({"action": "attribute"})
    if licence.share_alike:
        base_duties.append({"action": "cc:ShareAlike"})
    paid = rights.price > 0 and not licence.is_open
    compensate = {
        "action": [{
            "rdf:value": {"@id": "odrl:compensate"},
            "refinement": [{"leftOperand": "payAmount", "operator": "eq",
                            "rightOperand": {"@value": str(rights.price), "@type": "xsd:decimal"},
                            "unit": VOUCHER_UNIT}],
        }],
        "compensatedParty": holder["uid"],
    }
    permissions: list[dict[str, Any]] = []
    for action in _actions(licence):
        rule: dict[str, Any] = {"target": target, "assigner": holder["uid"], "action": action,
                                "constraint": constraints}
        duties = [*base_duties, *([compensate] if paid else [])]
        if duties:
            rule["duty"] = duties
        permissions.append(rule)
        for category in sorted(rights.free_for) if paid else ():
            free_rule = {"target": target, "assigner": holder["uid"], "action": action, "constraint": constraints,
                         "assignee": {"@type": "PartyCollection", "uid": category_uri(category)}}
            if base_duties:
                free_rule["duty"] = base_duties
            permissions.append(free_rule)
    prohibitions: list[dict[str, Any]] = []
    if not licence.allows_derivatives:
        prohibitions.append({"target": target, "assigner": holder["uid"], "action": "derive"})
    if not licence.allows_commercial:
        prohibitions.append({"target": target, "assigner": holder["uid"], "action": "cc:CommercialUse"})
    policy: dict[str, Any] = {
        "@context": ODRL_CONTEXT,
        "@type": "Offer",
        "uid": settings.EXCHANGE_BASE_URL + reverse("api-resource-rights", kwargs={"resource_id": resource.pk}),
        "profile": f"{URN}:odrl-profile:v1",
        "assigner": holder,
        "target": {"@type": "Asset", "uid": target, "dc:title": resource.title,
                   "dc:source": resource_source_url(resource)},
        "dc:license": licence.url or None,
        "dc:rights": f"© {rights.year} {rights.holder}",
        "permission": permissions,
    }
    if prohibitions:
        policy["prohibition"] = prohibitions
    return policy
