"""``python manage.py node_init [--rotate]``: create (or rotate) this node's Ed25519 key."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from federation import identity


class Command(BaseCommand):
    help = ("Create this node's Ed25519 signing key in the data dir (mode 0600) if it has none; print its key id "
            "and fingerprint. Idempotent. With --rotate, replace the active key: the old one stays published "
            "(and valid for what it signed) for FEDERATION_KEY_OVERLAP_SECONDS, and a province asks the hub to "
            "certify the new key on its next renewal.")

    def add_arguments(self, parser):
        parser.add_argument("--rotate", action="store_true", help="Replace the active key (with overlap)")
        parser.add_argument("--json", action="store_true", help="Print machine-readable output")

    def handle(self, *args, rotate: bool, json: bool, **options):
        info = identity.node_key_rotate() if rotate else identity.node_key_ensure()
        if rotate and not identity.is_hub():
            from federation.enrolment import certificate_renew
            from federation.errors import NotEnrolledError

            try:
                certificate_renew()
                self.stderr.write("the hub certified the new key")
            except NotEnrolledError:
                pass
            except Exception as exc:  # noqa: BLE001 - the tick retries the renewal
                self.stderr.write(f"the hub has not certified the new key yet ({exc}); the sync tick retries")
        out = {"node_id": identity.node_id(), "role": identity.node_role(), "kid": info.kid,
               "fingerprint": info.fingerprint, "path": info.path, "created": info.created}
        if json:
            self.stdout.write(_dumps(out))
            return
        verb = "rotated to a new key" if rotate else ("created key" if info.created else "key exists")
        self.stdout.write(f"{identity.node_id()} ({identity.node_role()}): {verb}")
        self.stdout.write(f"  key id:      {info.kid}")
        self.stdout.write(f"  fingerprint: {info.fingerprint}")
        self.stdout.write(f"  file:        {info.path}")


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
