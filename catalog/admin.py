from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from catalog.models import License, Resource, ResourceFile, Term


class ResourceFileInline(admin.TabularInline):
    model = ResourceFile
    extra = 0
    readonly_fields = ("original_name", "sha256", "size", "mime", "storage_key")
    can_delete = False


@admin.register(Resource)
class ResourceAdmin(GuardedModelAdmin):
    """Read-mostly view for operators; changes go through the API and its services (audited)."""

    list_display = ("title", "status", "origin_node", "subject", "grade", "resource_type", "publisher_name")
    list_filter = ("status", "stage", "subject", "resource_type", "origin_node")
    search_fields = ("title", "id")
    readonly_fields = [f.name for f in Resource._meta.fields]
    inlines = [ResourceFileInline]

    def has_add_permission(self, request):
        return False


@admin.register(Term)
class TermAdmin(admin.ModelAdmin):
    list_display = ("vocabulary", "code", "label_zh", "label_en", "parent", "order")
    list_filter = ("vocabulary",)


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ("id", "name_zh", "is_open", "allows_derivatives", "allows_commercial", "share_alike")
