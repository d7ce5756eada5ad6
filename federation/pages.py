"""Web pages of the federation for a node's operators: this node's identity, the tree of nodes below it (who
certified whom, lag and errors per edge), the peers it syncs with (status, certificate expiry, sync lag and
last error) and, on a node that certifies others (the hub, a province, a city), its children's enrolment
requests. Every operator sees only their own subtree (and their parent and the hub).

The page reads the same selectors as the operators' API and ``federation status`` command
(``federation.selectors``); approving calls ``federation.hub.enrolment_approve``, which checks the
fingerprint the operator typed against the enrolled key before any certificate is issued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalog.pages.common import Labels
from exchange.errors import ExchangeError
from exchange.roles import Role
from exchange.views_pages import role_required, show_error
from federation import hub, selectors, trust
from federation.models import Enrolment, NodeKey, Peer

# A pulled peer is shown as lagging after this many pull intervals without a successful pull.
LAG_INTERVALS = 5
MIN_LAG_WARNING = dt.timedelta(minutes=5)


def lag_warning() -> dt.timedelta:
    return max(MIN_LAG_WARNING, dt.timedelta(seconds=LAG_INTERVALS * settings.FEDERATION_PULL_INTERVAL))


def expiry_warning() -> dt.timedelta:
    """A certificate inside its renewal window (``FEDERATION_CERT_RENEW_BEFORE_SECONDS``) should have been
    renewed already: shown as due."""
    return dt.timedelta(seconds=settings.FEDERATION_CERT_RENEW_BEFORE_SECONDS)


def _when(value: str | None) -> dt.datetime | None:
    return parse_datetime(value) if value else None


@dataclass
class PeerRow:
    """One row of ``selectors.peer_status_list`` with dates parsed and labels for the page."""

    node_id: str
    name: str
    role: str
    status: str
    pull: bool
    lag_entries: int | None
    lag: dt.timedelta | None
    last_success_at: dt.datetime | None
    last_error_code: str
    last_error: str
    last_error_at: dt.datetime | None
    certificate_not_after: dt.datetime | None

    @classmethod
    def of(cls, row: dict[str, Any], labels: Labels) -> PeerRow:
        return cls(
            node_id=row["node_id"], name=labels.region(row["region"]) if row.get("region") else "",
            role=str(Peer.Role(row["role"]).label) if row["role"] in Peer.Role.values else row["role"],
            status=str(Peer.Status(row["status"]).label) if row["status"] in Peer.Status.values else row["status"],
            pull=bool(row["pull"]), lag_entries=row.get("lag_entries"),
            lag=dt.timedelta(seconds=row["lag_seconds"]) if row.get("lag_seconds") is not None else None,
            last_success_at=_when(row.get("last_success_at")), last_error_code=row.get("last_error_code") or "",
            last_error=row.get("last_error") or "", last_error_at=_when(row.get("last_error_at")),
            certificate_not_after=_when(row.get("certificate_not_after")),
        )

    @property
    def lagging(self) -> bool:
        return self.pull and (self.lag is None or self.lag > lag_warning())

    @property
    def expiring(self) -> bool:
        return self.certificate_not_after is not None and (
            self.certificate_not_after - timezone.now() < expiry_warning())


class ApproveForm(forms.Form):
    fingerprint = forms.CharField(
        label=gettext_lazy("省级运维人员口头或书面告知的密钥指纹"), max_length=120,
        help_text=gettext_lazy("请通过电话或公文等带外渠道核对指纹后再输入；指纹不符将拒绝批准并记入审计日志。"))


@role_required(Role.HUB_OPERATOR)
def hub_dashboard(request: HttpRequest) -> HttpResponse:
    """This node's identity, the tree of nodes below it, its peers with status, certificate expiry, sync lag
    and last error, and on a node that certifies others the enrolment requests (pending ones with an
    approval form). Permission: hub operator role."""
    labels = Labels.load()
    me = selectors.identity_status()
    for key in me["keys"]:
        key["status_label"] = NodeKey.Status(key["status"]).label if key["status"] in NodeKey.Status.values else ""
    on_hub = me["role"] == "hub"
    tree = selectors.node_tree()
    # Only the peers this node's operators see (``selectors.operator_nodes``: their subtree, parent and hub).
    rows = [PeerRow.of(row, labels) for row in selectors.peer_status_list()]
    parent = trust.may_certify()
    enrolments = selectors.enrolment_list() if parent else []
    for enrolment in enrolments:
        enrolment.region_label = labels.region(enrolment.region)
    for node in tree["nodes"]:
        node["name"] = labels.region(node["region"]) if node["region"] else ""
        node["role_label"] = str(Peer.Role(node["role"]).label) if node["role"] in Peer.Role.values else node["role"]
        node["depth_class"] = f"tree-depth-{min(node['depth'], 3)}"
        if node["edge"] and node["edge"].get("last_success_at"):
            node["edge"]["last_success"] = _when(node["edge"]["last_success_at"])
    return render(request, "federation/hub_dashboard.html", {
        "me": me, "my_certificate_not_after": _when(me.get("certificate_not_after")), "on_hub": on_hub,
        "may_certify": parent, "tree": tree, "role_label": Peer.Role(me["role"]).label,
        "rows": rows, "approve_form": ApproveForm(),
        "pending": [e for e in enrolments if e.status == Enrolment.Status.PENDING],
        "decided": [e for e in enrolments if e.status != Enrolment.Status.PENDING],
        "lagging": sum(1 for r in rows if r.lagging), "failing": sum(1 for r in rows if r.last_error),
        "expiring": sum(1 for r in rows if r.expiring),
        "clashes": selectors.id_clash_list(),
    })


@require_POST
@role_required(Role.HUB_OPERATOR)
def enrolment_approve(request: HttpRequest, node_id: str) -> HttpResponse:
    """Approve a child node's enrolment after the fingerprint check (``federation.hub.enrolment_approve``
    issues its certificate and starts pulling it). Permission: hub operator role, on a node that certifies
    others (the hub, a certified province or city)."""
    form = ApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请输入密钥指纹。"))
        return redirect("hub-dashboard")
    try:
        issued = hub.enrolment_approve(node_id=node_id, fingerprint_seen=form.cleaned_data["fingerprint"],
                                       actor=request.user)
    except ExchangeError as exc:
        show_error(request, exc)
    else:
        messages.success(request, _("已批准 %(node)s 加入联邦，证书有效期至 %(date)s。") % {
            "node": node_id, "date": timezone.localtime(issued.not_after).strftime("%Y-%m-%d %H:%M")})
    return redirect("hub-dashboard")
