"""Federation state of a node: its own keys, the peers it trusts, the change feed and sync cursors.

* ``NodeKey`` — this node's Ed25519 keys (private halves live in files, never in the database); the
  newest is active, a rotated-out key stays published until ``retire_at`` (overlap).
* ``Peer`` / ``PeerKey`` — other nodes this node knows, and the public keys it accepts from each:
  anchors (the hub's keys, pinned at enrolment) or keys bound by a node certificate whose chain of
  certificates runs to the hub (``PeerKey.chain``). A peer is this node's ``parent`` (it certified this
  node), a ``child`` (this node certified it) or known from a directory.
* ``Enrolment`` / ``IssuedCertificate`` / ``RevocationState`` / ``IssuerRevocationList`` — a parent's
  register of its child nodes and the certificates it signed; the hub's latest signed revocation list
  (issued on the hub, received elsewhere) and every other issuer's.
* ``OutboxHead`` / ``OutboxEntry`` — the append-only change feed: one signed envelope per change,
  with a sequence number assigned under a row lock so entries commit in sequence order.
* ``RemoteRecord`` — the highest version applied per (origin, record id), tombstones included: what
  makes applying idempotent and keeps a withdrawal from being undone by an older copy.
* ``SeenNonce`` — nonces of accepted signed requests until their time window closes (replay guard).
* ``OutgoingReceipt`` / ``ReceivedReceipt`` — signed grant receipts for cross-node settlement.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NodeKey(models.Model):
    """One of this node's own signing keys. The private key is a PEM file (mode 0600) in the data dir."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("在用")
        RETIRING = "retiring", _("轮换过渡")
        RETIRED = "retired", _("已退役")

    kid = models.CharField(max_length=43, primary_key=True)
    public_jwk = models.JSONField()
    fingerprint = models.CharField(max_length=80)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    private_key_path = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    retire_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    certificate = models.TextField(blank=True, help_text=_("The hub's certificate for this key (JWS)"))
    certificate_serial = models.CharField(max_length=64, blank=True)
    certificate_not_after = models.DateTimeField(null=True, blank=True)
    endorsement = models.TextField(blank=True, help_text=_("JWS by the previous key vouching for this one"))

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"


class Peer(models.Model):
    """Another node: the hub, this node's parent (the node that certified it: the hub for a province),
    its children (the nodes it certified), or a node learned from a directory. ``pull`` peers — the
    parent and the children — are the ones whose change feed this node reads."""

    class Role(models.TextChoices):
        HUB = "hub", _("国家枢纽")
        PROVINCE = "province", _("省级节点")
        CITY = "city", _("市级节点")
        COUNTY = "county", _("县级节点")

    class Relation(models.TextChoices):
        PARENT = "parent", _("上级节点")
        CHILD = "child", _("下级节点")
        OTHER = "", _("其他节点")

    class Status(models.TextChoices):
        PENDING = "pending", _("待批准")
        ACTIVE = "active", _("正常")
        REVOKED = "revoked", _("已吊销")

    node_id = models.CharField(max_length=63, primary_key=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    region = models.CharField(max_length=12, blank=True)
    name = models.CharField(max_length=200, blank=True)
    base_url = models.URLField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    pull = models.BooleanField(default=False, help_text=_("This node pulls the peer's change feed"))
    sets = models.JSONField(default=list, blank=True, help_text=_("Selective sync: set specs to ask for"))
    cursor = models.BigIntegerField(default=0, help_text=_("Last feed sequence number applied"))
    remote_head = models.BigIntegerField(default=0, help_text=_("Peer's feed head at the last page read"))
    pull_requested_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True,
                                           help_text=_("A failing peer is not pulled on schedule before this"))
    pulling_until = models.DateTimeField(null=True, blank=True,
                                         help_text=_("A pull of this peer is under way until then (lease)"))
    pulling_by = models.CharField(max_length=120, blank=True, help_text=_("host:pid of the pull holding the lease"))
    applied_total = models.BigIntegerField(default=0)
    relation = models.CharField(max_length=8, choices=Relation.choices, blank=True, default="")
    scope = models.CharField(max_length=6, blank=True, help_text=_("GB/T 2260 prefix its certificate covers"))
    certified_by = models.CharField(max_length=63, blank=True, help_text=_("Issuer of its newest certificate"))
    edge_report = models.JSONField(default=dict, blank=True,
                                   help_text=_("How its parent's pull of it stands, as a directory reported it"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["node_id"]

    def __str__(self) -> str:
        return self.node_id


class PeerKey(models.Model):
    """A public key this node accepts from a peer: an anchor (hub key pinned at enrolment) or a key
    bound to the peer by a certificate (``certificate`` holds the latest one) of ``issuer``'s key
    ``issuer_kid``; ``chain`` lists the ``[node id, kid]`` keys above it, up to the one the hub certified
    (empty for a hub-issued certificate). A key is trusted only while every key of its chain is."""

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="keys")
    kid = models.CharField(max_length=43, db_index=True)
    public_jwk = models.JSONField()
    anchor = models.BooleanField(default=False)
    certificate = models.TextField(blank=True)
    serial = models.CharField(max_length=64, blank=True, db_index=True)
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    retired_at = models.DateTimeField(null=True, blank=True, help_text=_("Anchor no longer published"))
    issuer = models.CharField(max_length=63, blank=True)
    issuer_kid = models.CharField(max_length=43, blank=True)
    scope = models.CharField(max_length=6, blank=True)
    chain = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["peer", "-not_after"]
        constraints = [models.UniqueConstraint(fields=["peer", "kid"], name="peerkey_unique_kid")]

    def __str__(self) -> str:
        return f"{self.peer_id}:{self.kid}"


class Enrolment(models.Model):
    """(Parent) a child node's request to join with one key, decided by this node's operator after
    comparing fingerprints. Requests for one node id with different keys are separate rows, listed side by side:
    nobody can replace a pending request by re-sending it with another key. Approving one supersedes
    the others."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待批准")
        APPROVED = "approved", _("已批准")
        SUPERSEDED = "superseded", _("已被取代")
        REVOKED = "revoked", _("已吊销")

    node_id = models.CharField(max_length=63)
    role = models.CharField(max_length=16, default="province")
    region = models.CharField(max_length=12)
    name = models.CharField(max_length=200, blank=True)
    base_url = models.URLField(max_length=300)
    public_jwk = models.JSONField()
    kid = models.CharField(max_length=43)
    fingerprint = models.CharField(max_length=80)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["node_id", "requested_at"]
        constraints = [models.UniqueConstraint(fields=["node_id", "kid"], name="enrolment_unique_node_key")]

    def __str__(self) -> str:
        return f"{self.node_id} ({self.status})"


class IssuedCertificate(models.Model):
    """(Parent) a node certificate this node signed."""

    serial = models.CharField(max_length=64, primary_key=True)
    node_id = models.CharField(max_length=63, db_index=True)
    kid = models.CharField(max_length=43)
    token = models.TextField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    issued_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["node_id", "-not_after"]

    def __str__(self) -> str:
        return f"{self.node_id}:{self.serial}"


class RevocationState(models.Model):
    """The newest revocation list this node holds (one row): issued here on the hub, received elsewhere."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    number = models.PositiveIntegerField(default=0)
    token = models.TextField(blank=True)
    serials = models.JSONField(default=list, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"revocation list #{self.number}"


class IssuerRevocationList(models.Model):
    """The newest revocation list of an issuer other than the hub (a parent revoking certificates it
    issued), one row per issuer: signed here when this node is the issuer, received elsewhere."""

    issuer = models.CharField(max_length=63, primary_key=True)
    number = models.PositiveIntegerField(default=0)
    token = models.TextField(blank=True)
    serials = models.JSONField(default=list, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"revocation list #{self.number} of {self.issuer}"


class OutboxHead(models.Model):
    """One row locked while appending to the feed, so sequence numbers commit in order: a reader that
    saw sequence n has seen everything below n (no gaps appear behind a cursor)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"outbox head #{self.last_seq}"


class OutboxEntry(models.Model):
    """One signed envelope in this node's change feed: its own changes, and on the hub also every
    envelope it applied from a province (relayed unchanged)."""

    seq = models.BigIntegerField(primary_key=True)
    origin = models.CharField(max_length=63)
    resource_id = models.UUIDField()
    version = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16)
    stage = models.CharField(max_length=16, blank=True)
    subject = models.CharField(max_length=32, blank=True)
    envelope = models.TextField(help_text=_("Canonical JSON (RFC 8785) exactly as signed by the origin"))
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["origin", "resource_id", "version"], name="outbox_record_version"),
            models.Index(fields=["stage", "seq"], name="outbox_stage_seq"),
            models.Index(fields=["subject", "seq"], name="outbox_subject_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.origin}/{self.resource_id} v{self.version}"


class RemoteRecord(models.Model):
    """The highest version of a remote record applied here (or refused as stale), per origin and id."""

    origin = models.CharField(max_length=63)
    resource_id = models.UUIDField()
    version = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16)
    content_hash = models.CharField(max_length=64)
    received_from = models.CharField(max_length=63)
    applied_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["origin", "resource_id"], name="remoterecord_unique_record")
        ]

    def __str__(self) -> str:
        return f"{self.origin}/{self.resource_id} v{self.version} {self.kind}"


class IdClash(models.Model):
    """A record whose id another record (another origin's, or this node's own) already held here. Both
    are kept — ids are scoped by origin — and the clash is shown to operators: it means an id was
    reused, by accident or to squat another node's record."""

    origin = models.CharField(max_length=63)
    record_id = models.UUIDField()
    holder = models.CharField(max_length=63, help_text=_("Origin of the record that holds the id here"))
    local_id = models.UUIDField(help_text=_("The local key this node gave the record"))
    received_from = models.CharField(max_length=63)
    first_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-first_seen_at"]
        constraints = [models.UniqueConstraint(fields=["origin", "record_id"], name="idclash_unique_record")]

    def __str__(self) -> str:
        return f"{self.origin}/{self.record_id} (id held by {self.holder})"


class SeenNonce(models.Model):
    """Nonce of an accepted signed request, kept until its ±skew window has closed."""

    kid = models.CharField(max_length=43)
    nonce = models.CharField(max_length=128)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kid", "nonce"], name="seennonce_unique")]

    def __str__(self) -> str:
        return f"{self.kid}:{self.nonce}"


class OutgoingReceipt(models.Model):
    """A signed receipt for a paid grant on a resource, to deliver to its origin and the hub."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    grant_ref = models.CharField(max_length=64, unique=True)
    token = models.TextField()
    targets = models.JSONField(default=list)
    delivered = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    refused = models.JSONField(default=dict, blank=True,
                               help_text=_("Targets that refused it for good: node id → error code"))
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"receipt {self.id} → {', '.join(self.targets)}"


class ReceivedReceipt(models.Model):
    """A grant receipt another node sent here (as origin of the resource, or as the hub)."""

    receipt_id = models.UUIDField()
    issuer = models.CharField(max_length=63)
    resource_id = models.UUIDField(db_index=True)
    origin = models.CharField(max_length=63)
    price = models.PositiveIntegerField()
    granted_at = models.DateTimeField()
    token = models.TextField()
    claims = models.JSONField()
    received_at = models.DateTimeField()
    late = models.BooleanField(default=False, help_text=_("Arrived after its month was closed here: counted in "
                                                          "the month it arrived"))

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "receipt_id"], name="receivedreceipt_unique")
        ]

    def __str__(self) -> str:
        return f"receipt {self.receipt_id} from {self.issuer}"
