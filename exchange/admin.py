from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from exchange.models import AuditEvent, Organisation, Region, User


@admin.register(User)
class ExchangeUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Organisation", {"fields": ("organisation", "display_name")}))
    list_display = ("username", "display_name", "organisation", "is_active")
    list_filter = ("groups", "organisation__kind")


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "region", "categories", "student_count")
    list_filter = ("kind",)
    search_fields = ("name",)


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "federated")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ("seq", "created_at", "actor", "action", "object_type", "object_id")
    list_filter = ("action",)
    search_fields = ("object_id", "actor")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
