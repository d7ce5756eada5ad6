"""Settlement per period and publisher: downloads by basis, grants, vouchers spent — API and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from licensing.models import DownloadEvent, Grant, LedgerEntry
from licensing.settlement import Period


@pytest.fixture
def activity(api_as, users, fund, priced, make_resource, province):
    """This month: a rural free download, a city purchase + download, an open download, and a school grant
    on the other publisher's resource; plus one download moved back into last month."""
    fund("city_school", 1)
    other_priced = make_resource(publisher="other_publisher", license="ALL-RIGHTS-RESERVED", price=7,
                                 territory=[province])
    open_resource = make_resource()
    teacher, rural = api_as(users["teacher"]), api_as(users["rural_teacher"])
    assert rural.post(f"/api/v1/resources/{priced.pk}/download").status_code == 200
    assert teacher.post(f"/api/v1/resources/{priced.pk}/grants", {"scope": "personal"}).status_code == 201
    assert teacher.post(f"/api/v1/resources/{priced.pk}/download").status_code == 200
    assert teacher.post(f"/api/v1/resources/{open_resource.pk}/download").status_code == 200
    assert api_as(users["school_admin"]).post(f"/api/v1/resources/{other_priced.pk}/grants",
                                              {"scope": "school"}).status_code == 201
    old = DownloadEvent.objects.create(resource=open_resource, user=users["teacher"], basis="open_licence",
                                       delivery="signed", created_at=timezone.now())
    last_month = timezone.localdate().replace(day=1) - dt.timedelta(days=3)
    DownloadEvent.objects.filter(pk=old.pk).update(
        created_at=dt.datetime.combine(last_month, dt.time(12), tzinfo=timezone.get_current_timezone()))
    return {"priced": priced, "other_priced": other_priced, "last_month": last_month}


def rows_for(client, **params):
    response = client.get("/api/v1/settlement", params)
    assert response.status_code == 200, response.json()
    return {row["publisher"]: row for row in response.json()["rows"]}


def test_report_per_publisher_for_this_month(api_as, users, orgs, activity):
    rows = rows_for(api_as(users["hub_operator"]))
    assert rows["本省出版社"] == {
        "publisher_id": orgs["publisher"].pk, "publisher": "本省出版社", "downloads": 3,
        "downloads_by_basis": {"free_for_category": 1, "grant_active": 1, "open_licence": 1},
        "grants": 1, "grants_school": 0, "grants_personal": 1, "buyer_schools": 1, "vouchers_spent": 5,
        "grants_elsewhere": 0, "vouchers_elsewhere": 0}
    assert rows["另一出版社"] == {
        "publisher_id": orgs["other_publisher"].pk, "publisher": "另一出版社", "downloads": 0,
        "downloads_by_basis": {}, "grants": 1, "grants_school": 1, "grants_personal": 0, "buyer_schools": 1,
        "vouchers_spent": 7, "grants_elsewhere": 0, "vouchers_elsewhere": 0}
    # the ledger and the grants agree on what was spent
    spent = sum(LedgerEntry.objects.filter(side="debit", transaction__kind="purchase").values_list("amount", flat=True))
    assert spent == sum(Grant.objects.values_list("price", flat=True)) == 12


def test_grants_reported_by_other_nodes_count_for_the_publisher(api_as, users, activity, settings):
    """Signed receipts from other nodes (teachers of other provinces buying this node's resources)
    appear as grants and vouchers elsewhere, for the publisher and the scopes that see it."""
    import uuid

    from django.utils import timezone

    from federation.models import ReceivedReceipt

    for price in (3, 4):
        ReceivedReceipt.objects.create(receipt_id=uuid.uuid4(), issuer="cn-44", resource_id=activity["priced"].pk,
                                       origin=settings.EXCHANGE_NODE_ID, price=price, granted_at=timezone.now(),
                                       token="t", claims={}, received_at=timezone.now())
    ReceivedReceipt.objects.create(receipt_id=uuid.uuid4(), issuer="cn-44", resource_id=activity["priced"].pk,
                                   origin="cn-99", price=50, granted_at=timezone.now(), token="t", claims={},
                                   received_at=timezone.now())  # not this node's sale
    ours = rows_for(api_as(users["publisher"]))["本省出版社"]
    assert (ours["grants_elsewhere"], ours["vouchers_elsewhere"], ours["grants"]) == (2, 7, 1)
    assert rows_for(api_as(users["other_publisher"]))["另一出版社"]["grants_elsewhere"] == 0
    csv_rows = list(csv.DictReader(io.StringIO(api_as(users["publisher"]).get("/api/v1/settlement/csv")
                                               .content.decode("utf-8").lstrip("\ufeff"))))
    assert (csv_rows[0]["grants_elsewhere"], csv_rows[0]["vouchers_elsewhere"]) == ("2", "7")


def test_periods_select_by_local_day(api_as, users, activity):
    hub = api_as(users["hub_operator"])
    month = activity["last_month"]
    last = rows_for(hub, month=f"{month:%Y-%m}")
    assert last["本省出版社"]["downloads"] == 1 and last["本省出版社"]["grants"] == 0
    day = rows_for(hub, start=month.isoformat(), end=month.isoformat())
    assert list(day) == ["本省出版社"]
    assert rows_for(hub, start="2001-01-01", end="2001-12-31") == {}
    for bad in ({"month": "2025-13"}, {"start": "2025-01-02"}, {"start": "2025-02-01", "end": "2025-01-01"}):
        response = hub.get("/api/v1/settlement", bad)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_period"


def test_who_sees_whose_settlement(api_as, users, orgs, activity):
    assert list(rows_for(api_as(users["publisher"]))) == ["本省出版社"]
    assert list(rows_for(api_as(users["other_publisher"]))) == ["另一出版社"]
    assert sorted(rows_for(api_as(users["province_admin"]))) == ["另一出版社", "本省出版社"]
    assert list(rows_for(api_as(users["province_admin"]), publisher=orgs["other_publisher"].pk)) == ["另一出版社"]
    denied = api_as(users["publisher"]).get("/api/v1/settlement", {"publisher": orgs["other_publisher"].pk})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "settlement_not_allowed"
    assert api_as(users["teacher"]).get("/api/v1/settlement").status_code == 403
    assert api_as(users["hub_operator"]).get("/api/v1/settlement", {"publisher": 999999}).status_code == 404


def test_csv_export(api_as, users, orgs, activity):
    response = api_as(users["hub_operator"]).get("/api/v1/settlement/csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    period = Period.parse()
    assert response["Content-Disposition"] == (
        f'attachment; filename="settlement-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"')
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    ours = next(r for r in rows if r["publisher"] == "本省出版社")
    assert (ours["downloads"], ours["downloads_free_for_category"], ours["downloads_with_grant"],
            ours["downloads_open_or_free"], ours["vouchers_spent"]) == ("3", "1", "1", "1", "5")
    assert ours["period_start"] == period.start.isoformat() and ours["publisher_id"] == str(orgs["publisher"].pk)


def test_csv_cells_never_start_a_formula(api_as, users, orgs, activity):
    from exchange.models import Organisation

    Organisation.objects.filter(pk=orgs["publisher"].pk).update(name="=HYPERLINK(1)")
    from catalog.models import Resource

    Resource.objects.filter(publisher=orgs["publisher"]).update(publisher_name="=HYPERLINK(1)")
    text = api_as(users["hub_operator"]).get("/api/v1/settlement/csv").content.decode("utf-8")
    assert ",'=HYPERLINK(1)," in text


def test_export_command(tmp_path, activity):
    out = tmp_path / "s.csv"
    call_command("settlement_export", "--output", str(out))
    lines = out.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()
    assert lines[0].startswith("period_start,period_end,publisher_id,publisher,downloads")
    assert len(lines) == 3
