"""Peers and keys of before multi-level federation: the hub is a province's parent, every enrolled
province the hub's child; every certificate held was issued by the hub, with the scope of its province."""

import base64
import json

from django.db import migrations


def _claims(token):
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def forwards(apps, schema_editor):
    Peer = apps.get_model("federation", "Peer")
    PeerKey = apps.get_model("federation", "PeerKey")
    Enrolment = apps.get_model("federation", "Enrolment")
    Peer.objects.filter(role="hub", relation="").update(relation="parent")
    children = set(Enrolment.objects.values_list("node_id", flat=True))
    Peer.objects.filter(node_id__in=children, relation="").update(relation="child")
    for peer in Peer.objects.filter(role="province", scope=""):
        peer.scope = (peer.region or "")[:2]
        peer.save(update_fields=["scope"])
    for key in PeerKey.objects.filter(anchor=False, issuer="").exclude(certificate="").iterator():
        claims = _claims(key.certificate)
        key.issuer = str(claims.get("iss") or "")
        key.scope = str(claims.get("scope") or str(claims.get("region") or "")[:2])
        key.save(update_fields=["issuer", "scope"])
        Peer.objects.filter(node_id=key.peer_id, certified_by="").update(certified_by=key.issuer)


class Migration(migrations.Migration):

    dependencies = [
        ("federation", "0006_levels"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
