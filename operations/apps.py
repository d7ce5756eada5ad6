from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Backup and restore of the whole node (management commands only: no models, pages or URLs)."""

    name = "operations"
