"""Errors of backup and restore, each with a stable code (shown by the commands, never over HTTP)."""

from __future__ import annotations

from exchange.errors import ConflictError, ExchangeError, InvalidInputError


class BackupInvalidError(InvalidInputError):
    """The backup directory is not a complete, intact backup: nothing was restored."""

    code = "backup_invalid"
    default_message = "The backup is incomplete or damaged."


class BackupIncompatibleError(ConflictError):
    """The backup cannot be restored here (other database engine, newer code, unknown format)."""

    code = "backup_incompatible"
    default_message = "The backup cannot be restored into this node."


class BackupTargetError(ConflictError):
    """The backup directory holds something that is not an earlier backup of this tool."""

    code = "backup_target_not_empty"
    default_message = "The backup directory is not empty and holds no earlier backup."


class BackupSourceError(ExchangeError):
    """The node's data could not be copied consistently (a blob missing or damaged, a key changed)."""

    code = "backup_source_inconsistent"
    http_status = 500
    default_message = "The node's data could not be backed up consistently."


class RestoreTargetNotEmptyError(ConflictError):
    """The node being restored into already holds data; ``--force`` overwrites it."""

    code = "restore_target_not_empty"
    default_message = "The target database or data dir is not empty."


class RestoreCheckError(ExchangeError):
    """The restore finished, but the restored node does not match the backup's manifest."""

    code = "restore_check_failed"
    http_status = 500
    default_message = "The restored node does not match the backup."


class DatabaseToolMissingError(ExchangeError):
    """``pg_dump`` / ``pg_restore`` are not installed."""

    code = "database_tool_missing"
    http_status = 500
    default_message = "The PostgreSQL client tools are not installed."


class BlobStoreUnavailableError(ExchangeError):
    """The blob store (local directory or S3 bucket) cannot be reached or written."""

    code = "blob_store_unavailable"
    http_status = 503
    default_message = "The blob store is not reachable."


class BackupBusyError(ConflictError):
    """Another backup is being written into the same directory."""

    code = "backup_busy"
    default_message = "Another backup is being written into this directory."


class DatabaseUnavailableError(ExchangeError):
    """The node's database cannot be reached (not created yet, wrong credentials, server down)."""

    code = "database_unavailable"
    http_status = 503
    default_message = "The database is not reachable."
