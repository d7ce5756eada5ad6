"""``python manage.py federation …``: enrol, approve, revoke, sync and watch a node's federation."""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from exchange.errors import ExchangeError
from federation import enrolment, hub, identity, recovery, selectors, takedowns
from federation.jobs import poke_peer, sync_tick, wait_idle
from federation.outbox import outbox_backfill
from federation.sync import pull_peer, pull_peers_due


class Command(BaseCommand):
    help = "Federation operations: enrol | approve | enrolments | revoke | reinstate | status | sync | pull | poke | renew | " \
           "directory | backfill | sets | digest | identity."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        p = sub.add_parser("enrol", help="ask this node's parent (the hub for a province, the province for a city, "
                                         "the city for a county) to enrol it; prints both fingerprints")
        p.add_argument("--hub", help="the hub's base URL (a province's parent; a city or county may give it too)")
        p.add_argument("--parent", help="the parent's base URL, for a city (its province) or a county (its city): "
                                        "the hub's key is pinned from the parent's document by --hub-fingerprint")
        p.add_argument("--hub-fingerprint", help="the fingerprint of the hub's key, as its operator reads it out: "
                                                 "only that key is pinned (required for a hub not pinned yet)")
        p.add_argument("--trust-on-first-use", action="store_true",
                       help="pin the hub's active key without a confirmed fingerprint (audited; compare it later)")
        p.add_argument("--wait", action="store_true", help="wait until a hub operator approves")
        p.add_argument("--timeout", type=float, default=600)
        p = sub.add_parser("approve", help="(parent) approve a child's enrolment after comparing the fingerprint")
        p.add_argument("node_id")
        p.add_argument("--fingerprint", required=True, help="the fingerprint the province's operator read out")
        p.add_argument("--replace-key", action="store_true",
                       help="the node is enrolled with another key it lost: approve this key as its replacement "
                            "(the old key is superseded, not revoked)")
        p = sub.add_parser("enrolments", help="(parent) list enrolment requests")
        p.add_argument("--status", choices=["pending", "approved", "revoked"])
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("revoke", help="(parent) revoke every certificate of a child (and so every node below "
                                          "it) and push the revocation list")
        p.add_argument("node_id")
        p.add_argument("--reason", required=True)
        sub.add_parser("recover", help="(province) rebuild this node's catalog from the hub after losing its data "
                                       "(enrol again first, with the old key or an approved replacement)")
        p = sub.add_parser("reinstate", help="(hub) lift a national takedown of a record and sign the reinstatement")
        p.add_argument("origin")
        p.add_argument("record_id")
        p.add_argument("--note", required=True, help="why (audited, shown at every node)")
        p = sub.add_parser("status", help="peers, cursors, lag, last success and error, certificate expiry (the "
                                          "peers this node's operators see: its subtree, its parent and the hub)")
        p.add_argument("--json", action="store_true")
        p.add_argument("--all", action="store_true", dest="every_peer",
                       help="every peer this node holds, other subtrees' nodes learnt from directories included")
        p = sub.add_parser("sync", help="run the scheduled upkeep once, or keep running it (--loop)")
        p.add_argument("--loop", action="store_true", help="keep syncing until interrupted (embedded mode)")
        p.add_argument("--interval", type=float, default=None, help="seconds between scheduled pulls (default FEDERATION_PULL_INTERVAL)")
        p.add_argument("--poll", type=float, default=0.5, help="seconds between checks for pokes (--loop)")
        p = sub.add_parser("pull", help="pull one peer's feed now")
        p.add_argument("node_id")
        p.add_argument("--max-pages", type=int)
        p.add_argument("--limit", type=int, help="entries per page (default FEDERATION_PAGE_SIZE)")
        p = sub.add_parser("poke", help="ask a peer to pull this node now")
        p.add_argument("node_id")
        sub.add_parser("renew", help="renew this node's certificate with its parent now")
        sub.add_parser("directory", help="refresh the parent's directory of node certificates")
        sub.add_parser("backfill", help="add feed entries for published resources not in the feed (after import)")
        p = sub.add_parser("sets", help="set what to pull from a peer (selective sync) and re-read its feed")
        p.add_argument("node_id")
        p.add_argument("sets", nargs="*", help="e.g. stage:初中  or  stage:高中,subject:数学 (none: everything)")
        p = sub.add_parser("digest", help="count and SHA-256 of the public catalog (to compare nodes)")
        p.add_argument("--origin")
        p = sub.add_parser("identity", help="this node's id, keys, fingerprints and certificate")
        p.add_argument("--json", action="store_true")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"do_{action}")(**options)
        except ExchangeError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc

    def _json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str))

    # --- trust -------------------------------------------------------------------------------
    def do_enrol(self, *, hub: str | None, parent: str | None, hub_fingerprint: str | None, trust_on_first_use: bool,
                 wait: bool, timeout: float, **_: Any) -> None:
        if not hub and not parent:
            raise CommandError("give --hub (a province) or --parent (a city or county)")
        status = enrolment.enrol(hub_url=hub, parent_url=parent, hub_fingerprint=hub_fingerprint,
                                 trust_on_first_use=trust_on_first_use)
        if trust_on_first_use and not hub_fingerprint:
            self.stderr.write(self.style.WARNING(
                "WARNING: the hub's key was trusted on first use, without a confirmed fingerprint. Compare the "
                "fingerprint below with the hub's operator before relying on this federation."))
        self.stdout.write(f"hub key fingerprint(s): {', '.join(status.hub_fingerprints)}")
        self.stdout.write(f"this node:  {identity.node_id()}  fingerprint {status.node_fingerprint}")
        self.stdout.write(f"enrolment:  {status.status}")
        if status.status == "pending":
            self.stdout.write("Read this node's fingerprint to the parent's operator, who runs:\n"
                              f"  python manage.py federation approve {identity.node_id()} "
                              f"--fingerprint '{status.node_fingerprint}'")
        if wait and status.certificate_not_after is None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                time.sleep(1)
                status = enrolment.enrolment_poll()
                if status.certificate_not_after:
                    break
            else:
                raise CommandError("not approved within the timeout")
        if status.certificate_not_after:
            self.stdout.write(self.style.SUCCESS(f"certified until {status.certificate_not_after}"))

    def do_approve(self, *, node_id: str, fingerprint: str, replace_key: bool, **_: Any) -> None:
        issued = hub.enrolment_approve(node_id=node_id, fingerprint_seen=fingerprint, actor="operator (cli)",
                                       replace_key=replace_key)
        wait_idle(10)
        self.stdout.write(self.style.SUCCESS(f"approved {node_id}: certificate {issued.serial} valid until "
                                             f"{issued.not_after.isoformat()}"))

    def do_enrolments(self, *, status: str | None, json: bool, **_: Any) -> None:
        rows = selectors.enrolment_list(status=status)
        if json:
            self._json([{"id": r.id, "node_id": r.node_id, "status": r.status, "fingerprint": r.fingerprint,
                         "base_url": r.base_url, "region": r.region} for r in rows])
            return
        for r in rows:
            self.stdout.write(f"{r.id:>4}  {r.node_id:<10} {r.status:<9} {r.region:<7} {r.base_url:<32} {r.fingerprint}")

    def do_revoke(self, *, node_id: str, reason: str, **_: Any) -> None:
        state = hub.node_revoke(node_id=node_id, actor="operator (cli)", reason=reason)
        wait_idle(15)
        self.stdout.write(self.style.WARNING(f"revoked {node_id}; revocation list #{state.number} pushed"))

    def do_recover(self, **_: Any) -> None:
        with tqdm(desc="files", unit="file", disable=None) as bar:
            report = recovery.recover(progress=bar.update)
        wait_idle(15)
        self._json(report.__dict__)
        if report.error:
            raise CommandError(report.error)
        self.stdout.write(self.style.SUCCESS(
            f"restored {report.restored} own records; files fetched {report.files.get('fetched', 0)}, "
            f"missing {report.files.get('missing', 0)}; this node's feed continues after "
            f"{report.feed_continues_after}"))

    def do_reinstate(self, *, origin: str, record_id: str, note: str, **_: Any) -> None:
        outcome = takedowns.national_reinstate(origin=origin, record_id=record_id, actor="operator (cli)", note=note)
        wait_idle(15)
        self.stdout.write(self.style.SUCCESS(f"{origin}/{record_id}: {outcome}; reinstatement signed and sent"))

    def do_renew(self, **_: Any) -> None:
        self.stdout.write(f"certificate valid until {enrolment.certificate_renew()}")

    def do_directory(self, **_: Any) -> None:
        self._json(enrolment.directory_refresh())

    # --- watching ------------------------------------------------------------------------------
    def do_identity(self, *, json: bool, **_: Any) -> None:
        identity.node_key_ensure()
        data = selectors.identity_status()
        if json:
            self._json(data)
            return
        self.stdout.write(f"{data['node_id']} ({data['role']}, region {data['region']}) at {data['base_url']}")
        for key in data["keys"]:
            self.stdout.write(f"  key {key['kid']} [{key['status']}] {key['fingerprint']}")
        self.stdout.write(f"  certificate until: {data['certificate_not_after'] or '-'}")
        self.stdout.write(f"  feed head: {data['outbox_head']}")

    def do_status(self, *, json: bool, every_peer: bool, **_: Any) -> None:
        peers = selectors.peer_status_list(every_peer=every_peer)
        if json:
            self._json({"node": selectors.identity_status(), "peers": peers})
            return
        me = selectors.identity_status()
        self.stdout.write(f"{me['node_id']} ({me['role']})  feed head {me['outbox_head']}  "
                          f"certificate until {_short(me['certificate_not_after'])}")
        if me["id_clashes"]:
            self.stdout.write(self.style.WARNING(
                f"{me['id_clashes']} record id clash(es): another origin used an id already held here "
                f"(both records kept); see the operator page or the audit log (federation.id_clash)"))
        header = (f"{'peer':<10} {'role':<9} {'status':<8} {'cursor':>8} {'lag':>7} {'last success':<20} "
                  f"{'cert expiry':<20} last error")
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for p in peers:
            lag = "" if p["lag_entries"] is None else str(p["lag_entries"])
            error = f"{p['last_error_code']}: {p['last_error']}"[:60] if p["last_error_code"] else ""
            self.stdout.write(
                f"{p['node_id']:<10} {p['role']:<9} {p['status']:<8} {p['cursor'] if p['pull'] else '-':>8} "
                f"{lag:>7} {_short(p['last_success_at']):<20} "
                f"{_short(p['certificate_not_after']) if not p['anchor'] else 'anchor':<20} {error}")

    def do_digest(self, *, origin: str | None, **_: Any) -> None:
        from catalog.remote import catalog_digest

        self._json(catalog_digest(origin=origin))

    # --- syncing ------------------------------------------------------------------------------
    def do_pull(self, *, node_id: str, max_pages: int | None, limit: int | None, **_: Any) -> None:
        deadline = time.monotonic() + 120
        result = pull_peer(node_id=node_id, max_pages=max_pages, limit=limit)
        while result.busy and time.monotonic() < deadline:  # the sync loop is pulling it: wait for our turn
            time.sleep(0.2)
            result = pull_peer(node_id=node_id, max_pages=max_pages, limit=limit)
        self._json(result.__dict__)
        if result.busy:
            raise CommandError(f"another pull of {node_id} is still under way")
        if not result.ok:
            raise CommandError(f"{result.error_code}: {result.error}")

    def do_poke(self, *, node_id: str, **_: Any) -> None:
        if not poke_peer(node_id=node_id):
            raise CommandError(f"could not poke {node_id}")
        self.stdout.write(f"poked {node_id}")

    def do_backfill(self, **_: Any) -> None:
        added = outbox_backfill()
        wait_idle(30)
        self.stdout.write(f"added {added} feed entries")

    def do_sets(self, *, node_id: str, sets: list[str], **_: Any) -> None:
        peer = enrolment.peer_sets_update(node_id=node_id, sets=sets, actor="operator (cli)")
        self.stdout.write(f"{peer.node_id}: sets {peer.sets or 'everything'}; cursor reset to 0")

    def do_sync(self, *, loop: bool, interval: float | None, poll: float, **_: Any) -> None:
        if not loop:
            self._json(sync_tick(pull_interval=None if interval is None else int(interval)))
            return
        stop = {"now": False}

        def request_stop(signum: int, frame: Any) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        every = float(settings.FEDERATION_PULL_INTERVAL) if interval is None else interval
        self.stdout.write(f"{identity.node_id()}: syncing every {every:g}s, pokes checked every {poll:g}s "
                          "(Ctrl-C to stop)")
        sys.stdout.flush()
        next_tick = 0.0
        while not stop["now"]:
            now = time.monotonic()
            try:
                if now >= next_tick:
                    report = sync_tick(pull_interval=int(every))
                    next_tick = now + every
                    self._report(report)
                else:
                    for result in pull_peers_due(requested_only=True):
                        self._report({"pull": [result.__dict__]})
            except Exception as exc:  # noqa: BLE001 - keep the loop alive; the error is on the peer row
                self.stderr.write(f"{timezone.now():%H:%M:%S} sync error: {exc}")
            time.sleep(poll)
        wait_idle(10)

    def _report(self, report: dict[str, Any]) -> None:
        for result in report.get("pull") or []:
            if isinstance(result, dict) and (result.get("applied") or result.get("error_code")):
                status = f"error {result['error_code']}: {result['error']}" if result.get("error_code") else "ok"
                self.stdout.write(f"{timezone.now():%H:%M:%S} pulled {result['node_id']}: {result['received']} "
                                  f"received, {result['applied']} applied, cursor {result['cursor']} ({status})")
        sys.stdout.flush()


def _short(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else "-"
