"""``manage.py backup DIR``: a consistent, self-describing backup of this node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exchange.errors import ExchangeError
from operations.backup import backup_create
from operations.backup.progress import human_bytes, progress_bars


class Command(BaseCommand):
    help = ("Back up this node into DIR: the database (one consistent snapshot; SQLite copy or pg_dump), every "
            "stored file the database refers to, the node's private signing keys and its generated SECRET_KEY, "
            "with a manifest of sizes and SHA-256 checksums. DIR must be new, empty, or hold an earlier backup "
            "(updated in place: blobs already there are not copied again). The node keeps running meanwhile.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, metavar="DIR")
        parser.add_argument("--jobs", type=int, default=4, help="blobs copied in parallel (default 4)")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--json", action="store_true", help="print the manifest's summary as JSON")

    def handle(self, *args: Any, directory: Path, jobs: int, no_progress: bool, json: bool, **options: Any) -> None:
        try:
            report = backup_create(directory=directory, jobs=jobs,
                                   progress=progress_bars(self.stderr._out, disable=no_progress))
        except ExchangeError as exc:
            raise CommandError(f"backup failed [{exc.code}]: {exc.message}") from exc
        m = report.manifest
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        if json:
            summary = {k: m[k] for k in ("created_at", "node", "database", "counts", "catalog_digest", "federation",
                                         "blobs", "keys", "secret_key")}
            summary["blobs"] = {k: v for k, v in m["blobs"].items() if k != "types"}
            self.stdout.write(_dumps({"directory": str(report.directory), **summary}))
            return
        db = next(f for f in m["files"] if f["kind"] == "database")
        blobs = m["blobs"]
        self.stdout.write(self.style.SUCCESS(
            f"backup of {m['node']['id']} ({m['node']['role']}) written to {report.directory}"))
        self.stdout.write(f"  snapshot:   {m['created_at']}"
                          + (f" (updated the backup of {report.previous})" if report.previous else ""))
        self.stdout.write(f"  database:   {m['database']['engine']}, {human_bytes(db['size'])} ({db['path']})")
        self.stdout.write(f"  blobs:      {blobs['count']} ({human_bytes(blobs['bytes'])}): {blobs['copied']} copied, "
                          f"{blobs['reused']} already in the directory"
                          + (f", {report.pruned} stale file(s) removed" if report.pruned else ""))
        self.stdout.write(f"  keys:       {len(m['keys'])} private key(s): "
                          + (", ".join(f"{k['kid'][:12]}… ({k['status']})" for k in m["keys"]) or "none"))
        self.stdout.write("  SECRET_KEY: " + ("from the data dir" if "file" in m["secret_key"]
                                              else "in the environment, not in the backup"))
        self.stdout.write(f"  catalog:    {m['catalog_digest']['count']} published records, "
                          f"digest {m['catalog_digest']['sha256']}")
        self.stdout.write(f"  feed head:  {m['federation']['feed_head']}")
        self.stdout.write(f"  manifest:   {report.directory / 'manifest.json'} ({len(m['files'])} files)")
        self.stdout.write(self.style.WARNING(
            "This backup holds the node's private keys, password hashes and tokens: keep it encrypted, "
            "readable only by the operators, and away from the node's own disks."))


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1)
