"""``manage.py restore DIR``: restore a backup into an empty node (or check it with ``--check``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exchange.errors import ExchangeError
from operations.backup import backup_restore, backup_verify
from operations.backup.progress import human_bytes, progress_bars
from operations.errors import RestoreCheckError


class Command(BaseCommand):
    help = ("Restore the backup in DIR into this node: checks every file's SHA-256 first (a damaged backup "
            "changes nothing), refuses a node that already holds data unless --force, then restores the "
            "stored files, keys, SECRET_KEY and database, migrates forward, rebuilds the search index and "
            "compares the catalog digest with the backup's (exit 1 when they differ). Stop the node's web, "
            "worker and sync processes first. With --check, only verify the backup.")
    # The target may have no tables yet: nothing may query the database before the restore decides to.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, metavar="DIR")
        parser.add_argument("--force", action="store_true",
                            help="overwrite a database and key files that already hold data (listed first)")
        parser.add_argument("--check", action="store_true", help="only verify the backup; touch nothing")
        parser.add_argument("--jobs", type=int, default=4, help="blobs stored in parallel (default 4)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, directory: Path, force: bool, check: bool, jobs: int, no_progress: bool,
               **options: Any) -> None:
        progress = progress_bars(self.stderr._out, disable=no_progress)
        try:
            if check:
                manifest, entries = backup_verify(directory=directory, progress=progress)
                size = sum(entry.size for entry in entries)
                self.stdout.write(self.style.SUCCESS(
                    f"backup intact: {len(entries)} files, {human_bytes(size)}, of {manifest['node']['id']} "
                    f"({manifest['database']['engine']}) taken {manifest['created_at']}; catalog "
                    f"{manifest['catalog_digest']['count']} records, digest {manifest['catalog_digest']['sha256']}"))
                return
            report = backup_restore(directory=directory, force=force, jobs=jobs, progress=progress,
                                    announce=lambda line: self.stderr.write(self.style.WARNING(line)))
        except RestoreCheckError as exc:
            raise CommandError(f"restore finished but FAILED its check [{exc.code}]: {exc.message}") from exc
        except ExchangeError as exc:
            raise CommandError(f"restore refused [{exc.code}]: {exc.message}") from exc
        m = report.manifest
        self.stdout.write(self.style.SUCCESS(
            f"restored {m['node']['id']} ({m['node']['role']}) from the backup taken {m['created_at']}"))
        self.stdout.write(f"  database:   {m['database']['engine']} restored; migrations applied since: "
                          + (", ".join(report.migrations_applied) or "none (the backup was current)"))
        self.stdout.write(f"  blobs:      {report.blobs_written} stored, {report.blobs_present} already present")
        self.stdout.write(f"  keys:       {len(report.keys)} private key(s) restored (mode 0600)")
        self.stdout.write(f"  SECRET_KEY: {report.django_key_outcome}")
        self.stdout.write(f"  search:     {report.indexed} published resources indexed")
        self.stdout.write(f"  feed head:  {report.feed_head} (the backup's: {m['federation']['feed_head']})")
        for label, (before, after) in report.count_differences.items():
            self.stdout.write(self.style.WARNING(f"  count of {label}: {after} (the backup's: {before})"))
        self.stdout.write(self.style.SUCCESS(
            f"  catalog digest {report.digest['sha256']} ({report.digest['count']} records) equals the backup's"))
        if m["counts"].get("federation.Peer"):
            self.stdout.write(self.style.WARNING(
                f"This node is federated: if its peers read its feed beyond {report.feed_head} or newer versions of "
                "its records after this backup was taken, tell the hub's operator before starting the sync again."))
