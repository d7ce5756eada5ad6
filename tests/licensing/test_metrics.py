"""Downloads and purchases are counted for ``/metrics`` once they are committed — a refused download, a
file that cannot be served or a purchase that is rolled back are not."""

from __future__ import annotations

from catalog.storage import get_blob_store
from licensing.models import DownloadEvent
from tests.exchange.test_metrics import scrape, value


def test_downloads_are_counted_by_basis_and_delivery(client, api_as, users, make_resource,
                                                     django_capture_on_commit_callbacks):
    resource = make_resource()
    lost = make_resource()
    for file in lost.files.all():
        get_blob_store().delete(file.storage_key)
    teacher = api_as(users["teacher"])
    before = value(scrape(client), "exchange_downloads_total", basis="open_licence", delivery="signed")
    with django_capture_on_commit_callbacks(execute=True):
        assert teacher.post(f"/api/v1/resources/{resource.pk}/download", {}, format="json").status_code == 200
        assert teacher.post(f"/api/v1/resources/{lost.pk}/download", {}, format="json").status_code == 503
    assert value(scrape(client), "exchange_downloads_total", basis="open_licence", delivery="signed") == before + 1
    assert DownloadEvent.objects.count() == 1


def test_purchases_and_vouchers_spent_are_counted(client, api_as, users, fund, priced,
                                                  django_capture_on_commit_callbacks):
    fund("city_school", per_student=1)
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        bought = api_as(users["teacher"]).post(f"/api/v1/resources/{priced.pk}/grants", {"scope": "school"},
                                               format="json")
        assert bought.status_code == 201, bought.json()
        again = api_as(users["teacher"]).post(f"/api/v1/resources/{priced.pk}/grants", {"scope": "school"},
                                              format="json")
        assert again.status_code == 409  # already entitled: nothing bought, nothing counted
    after = scrape(client)
    assert value(after, "exchange_purchases_total", scope="school") - value(
        before, "exchange_purchases_total", scope="school") == 1
    assert value(after, "exchange_purchase_vouchers_total", scope="school") - value(
        before, "exchange_purchase_vouchers_total", scope="school") == 5
