"""How licensing objects look in the API (output only; input is validated by the services)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from catalog.models import License
from licensing.models import Grant, LedgerEntry, LedgerTransaction, TakedownNotice, VoucherAccount


class LicenseSerializer(serializers.ModelSerializer):
    class Meta:
        model = License
        fields = ["id", "name", "name_zh", "url", "is_open", "allows_derivatives", "allows_commercial",
                  "share_alike", "attribution_required"]


class GrantSerializer(serializers.ModelSerializer):
    resource_title = serializers.CharField(source="resource.title")
    school = serializers.IntegerField(source="organisation_id")
    school_name = serializers.CharField(source="organisation.name")
    active = serializers.SerializerMethodField()

    class Meta:
        model = Grant
        fields = ["id", "resource", "resource_title", "scope", "school", "school_name", "user", "buyer", "price",
                  "starts_at", "ends_at", "active", "created_at"]

    def get_active(self, grant: Grant) -> bool:
        return grant.starts_at <= timezone.now() < grant.ends_at


class VoucherAccountSerializer(serializers.ModelSerializer):
    organisation_name = serializers.CharField(source="organisation.name", default=None)

    class Meta:
        model = VoucherAccount
        fields = ["id", "key", "kind", "organisation", "organisation_name", "balance", "created_at"]


class LedgerEntrySerializer(serializers.ModelSerializer):
    kind = serializers.CharField(source="transaction.kind")
    memo = serializers.CharField(source="transaction.memo")
    resource = serializers.UUIDField(source="transaction.resource_id", allow_null=True)
    actor = serializers.CharField(source="transaction.actor.username")

    class Meta:
        model = LedgerEntry
        fields = ["id", "transaction", "kind", "side", "amount", "memo", "resource", "actor", "created_at"]


class LedgerTransactionSerializer(serializers.ModelSerializer):
    entries = serializers.SerializerMethodField()

    class Meta:
        model = LedgerTransaction
        fields = ["id", "kind", "amount", "memo", "resource", "created_at", "entries"]

    def get_entries(self, txn: LedgerTransaction) -> list[dict]:
        return [{"account": e.account.key, "side": e.side, "amount": e.amount}
                for e in txn.entries.select_related("account").order_by("id")]


class TakedownSerializer(serializers.ModelSerializer):
    resource_title = serializers.CharField(source="resource.title")
    resource_status = serializers.CharField(source="resource.status")
    filed_by = serializers.CharField(source="filed_by.username", default=None)
    decided_by = serializers.CharField(source="decided_by.username", default=None)

    class Meta:
        model = TakedownNotice
        fields = ["id", "resource", "resource_title", "resource_status", "status", "grounds", "statement",
                  "claimant", "filed_by", "filed_at", "decided_by", "decided_at", "decision_note",
                  "forwarded_to", "forwarded_from"]
