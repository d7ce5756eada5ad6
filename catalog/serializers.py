"""How catalog objects look in the API (output only; input is validated by the services)."""

from __future__ import annotations

from rest_framework import serializers

from catalog.models import Resource, ResourceFile, RightsStatement


class ResourceFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = ResourceFile
        fields = ["id", "original_name", "sha256", "size", "mime", "duration_seconds", "position"]


class RightsSerializer(serializers.ModelSerializer):
    license = serializers.CharField(source="license_id")
    license_url = serializers.CharField(source="license.url")

    class Meta:
        model = RightsStatement
        fields = ["holder", "year", "license", "license_url", "attribution", "territory", "audience", "price",
                  "free_for", "grant_days", "term_end", "embargo_until", "derived_from"]


class ResourceSerializer(serializers.ModelSerializer):
    rights = RightsSerializer(read_only=True)
    files = ResourceFileSerializer(many=True, read_only=True)
    publisher = serializers.CharField(source="publisher_name")

    class Meta:
        model = Resource
        fields = [
            "id", "origin_node", "is_remote", "version", "status", "title", "description", "keywords", "stage",
            "subject", "grade", "edition", "volume", "chapter", "section", "resource_type", "language",
            "textbook_id", "publisher", "province", "review_note", "download_count", "created_at", "updated_at",
            "submitted_at", "published_at", "rights", "files",
        ]
