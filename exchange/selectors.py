"""Reads for accounts and organisations."""

from __future__ import annotations

from exchange.models import Organisation, Region


def region_get(code: str) -> Region | None:
    return Region.objects.filter(code=code).first()


def province_of(region_code: str) -> str:
    return region_code[:2] + "0000"


def organisation_list(*, kind: str | None = None, region_prefix: str | None = None):
    qs = Organisation.objects.select_related("region")
    if kind:
        qs = qs.filter(kind=kind)
    if region_prefix:
        qs = qs.filter(region__code__startswith=region_prefix)
    return qs
