"""Moving django-guardian object rights from its generic tables (object named by content type and a text key)
to a model's own foreign-key tables (``<Model>UserObjectPermission`` / ``<Model>GroupObjectPermission``).

Why: for a model with a UUID key, guardian's ``get_objects_for_user`` casts the generic text keys to UUID in
SQL; PostgreSQL may evaluate that cast on rows of other models (integer keys such as voucher accounts)
before filtering by content type, and the query fails (``invalid input syntax for type uuid``) depending on
the plan. Foreign-key tables are joined, never cast, and their rows go with the object."""

from __future__ import annotations

from typing import Any


def move_generic_object_permissions(apps: Any, schema_editor: Any, *, app_label: str, model: str) -> None:
    """A data migration step: copy the model's generic rows into its foreign-key tables, then delete them."""
    content_type_model = apps.get_model("contenttypes", "ContentType")
    content_type = content_type_model.objects.filter(app_label=app_label, model=model.lower()).first()
    if content_type is None:  # a new database: nothing to move
        return
    target = apps.get_model(app_label, model)
    known = {str(pk) for pk in target.objects.values_list("pk", flat=True)}
    for holder in ("User", "Group"):
        generic = apps.get_model("guardian", f"{holder}ObjectPermission")
        direct = apps.get_model(app_label, f"{model}{holder}ObjectPermission")
        field = holder.lower()
        rows = generic.objects.filter(content_type=content_type)
        direct.objects.bulk_create(
            [direct(**{f"{field}_id": getattr(row, f"{field}_id")}, permission_id=row.permission_id,
                    content_object_id=row.object_pk)
             for row in rows.iterator() if row.object_pk in known],
            batch_size=2000, ignore_conflicts=True)
        rows.delete()
