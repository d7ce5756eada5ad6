"""Backup and restore of a whole node (``manage.py backup DIR`` / ``manage.py restore DIR``).

See :mod:`operations.backup.manifest` for what a backup directory holds, :mod:`.create` and
:mod:`.restore` for the two services, and deploy/README.md "Backup and restore" for operators.
"""

from operations.backup.create import BackupReport, backup_create
from operations.backup.restore import RestoreReport, backup_restore, backup_verify

__all__ = ["BackupReport", "RestoreReport", "backup_create", "backup_restore", "backup_verify"]
