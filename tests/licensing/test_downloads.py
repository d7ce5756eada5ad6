"""Downloads: the decision, the download event, and short-lived links — node-signed links served with
HTTP Range support, or presigned URLs from a real S3 API server (moto)."""

from __future__ import annotations

import string
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest

from catalog.models import Resource
from catalog.storage import get_blob_store
from exchange.models import AuditEvent
from licensing.links import file_token_make, file_token_read
from licensing.models import DownloadEvent
from tests.factories import store_file


def download(client, resource, **data):
    return client.post(f"/api/v1/resources/{resource.pk}/download", data, format="json")


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def big_file_resource(make_resource):
    """An open resource whose one file is 10 000 known bytes."""
    resource = make_resource(with_file=False)
    body = bytes(range(256)) * 39 + b"end-of-file!"[:16]
    store_file(resource, "课件 第1章.pdf", body)
    return resource, body


def test_allowed_download_records_an_event_counts_and_returns_signed_links(api_as, users, big_file_resource):
    """An open licence: the event says why it was allowed, the count goes up, the link serves the bytes."""
    resource, body = big_file_resource
    response = download(api_as(users["teacher"]), resource)
    assert response.status_code == 200, response.json()
    payload = response.json()
    assert payload["decision"]["allowed"] is True and payload["decision"]["reason"] == "open_licence"
    [link] = payload["files"]
    assert link["delivery"] == "signed" and link["size"] == len(body) and link["name"] == "课件 第1章.pdf"
    assert link["url"].startswith("http://testserver/files/")  # the address the request came to
    event = DownloadEvent.objects.get(pk=payload["download"])
    assert (event.user, event.basis, event.delivery, event.organisation) == (
        users["teacher"], "open_licence", "signed", users["teacher"].organisation)
    assert Resource.objects.get(pk=resource.pk).download_count == 1
    assert AuditEvent.objects.filter(action="resource.download", object_id=str(resource.pk)).count() == 1
    assert "CC BY 4.0" in payload["attribution"]["en"] and "许可协议" in payload["attribution"]["zh-Hans"]

    fetched = api_as(None).get(path_of(link["url"]))
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content) == body
    assert fetched["Accept-Ranges"] == "bytes"
    assert fetched["Content-Length"] == str(len(body))
    assert fetched["ETag"] == f'"{link["sha256"]}"'
    assert "attachment; filename*=UTF-8''" in fetched["Content-Disposition"]


def test_interrupted_download_resumes_with_range_requests(api_as, users, big_file_resource):
    resource, body = big_file_resource
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    client = api_as(None)
    first = client.get(url, HTTP_RANGE="bytes=0-4095")
    assert first.status_code == 206
    assert first["Content-Range"] == f"bytes 0-4095/{len(body)}"
    assert first["Content-Length"] == "4096"
    got = b"".join(first.streaming_content)
    rest = client.get(url, HTTP_RANGE=f"bytes={len(got)}-", HTTP_IF_RANGE=first["ETag"])
    assert rest.status_code == 206
    assert rest["Content-Range"] == f"bytes 4096-{len(body) - 1}/{len(body)}"
    assert got + b"".join(rest.streaming_content) == body


@pytest.mark.parametrize(("header", "status", "expected"), [
    ("bytes=-10", 206, slice(-10, None)),
    ("bytes=100-199", 206, slice(100, 200)),
    ("bytes=9990-20000", 206, slice(9990, None)),
    ("bytes=5-2", 200, slice(None)),  # malformed: ignored, whole file
    ("bytes=0-1,5-6", 200, slice(None)),  # several ranges: whole file
    ("pages=1-2", 200, slice(None)),  # another unit: whole file
])
def test_range_forms(api_as, users, big_file_resource, header, status, expected):
    resource, body = big_file_resource
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    response = api_as(None).get(url, HTTP_RANGE=header)
    assert response.status_code == status
    assert b"".join(response.streaming_content) == body[expected]


@pytest.mark.parametrize("header", ["bytes=10000-", "bytes=20000-20010", "bytes=-0"])
def test_range_outside_the_file_is_416(api_as, users, big_file_resource, header):
    resource, body = big_file_resource
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    response = api_as(None).get(url, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(body)}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


def test_if_range_for_another_version_sends_the_whole_file(api_as, users, big_file_resource):
    resource, body = big_file_resource
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    response = api_as(None).get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"not-the-current-etag"')
    assert response.status_code == 200 and b"".join(response.streaming_content) == body


def test_head_gives_the_headers_only(api_as, users, big_file_resource):
    resource, body = big_file_resource
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    response = api_as(None).head(url, HTTP_RANGE="bytes=0-9")
    assert response.status_code == 206 and response["Content-Length"] == "10" and response.content == b""


def test_a_link_changed_by_one_character_is_refused(api_as, users, big_file_resource):
    """Every single-character change anywhere in the token is refused, and nothing is served."""
    resource, _ = big_file_resource
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    prefix, token = url.rsplit("/", 1)
    client = api_as(None)
    assert client.get(url).status_code == 200
    alphabet = string.ascii_letters + string.digits
    for position in range(len(token)):
        replacement = next(c for c in alphabet if c != token[position])
        tampered = f"{prefix}/{token[:position]}{replacement}{token[position + 1:]}"
        response = client.get(tampered)
        assert response.status_code == 403, (position, response.status_code)
        assert response.json()["error"]["code"] == "download_link_invalid"
    assert client.get(f"{prefix}/{token[:-1]}").status_code == 403  # truncated
    assert client.get(f"{prefix}/{token}x").status_code == 403  # extended


def test_expired_links_are_refused(api_as, users, big_file_resource, settings):
    resource, _ = big_file_resource
    settings.LICENSING_DOWNLOAD_URL_TTL = 0
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    response = api_as(None).get(url)
    assert response.status_code == 410 and response.json()["error"]["code"] == "download_link_expired"


def test_link_claims_bind_file_user_and_expiry(users, big_file_resource):
    import datetime as dt

    from django.utils import timezone

    from licensing.errors import DownloadLinkExpiredError

    resource, _ = big_file_resource
    file = resource.files.get()
    expires = timezone.now() + dt.timedelta(seconds=60)
    claims = file_token_read(file_token_make(file_id=file.pk, user_id=users["teacher"].pk, expires_at=expires))
    assert (claims.file_id, claims.user_id) == (str(file.pk), users["teacher"].pk)
    with pytest.raises(DownloadLinkExpiredError, match="expired"):
        file_token_read(file_token_make(file_id=file.pk, user_id=1, expires_at=expires), now=expires)


def test_a_withdrawal_stops_links_already_handed_out(api_as, users, big_file_resource):
    """The file view asks decide() again: a withdrawn resource's links stop at once."""
    resource, _ = big_file_resource
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    withdraw = api_as(users["publisher"]).post(f"/api/v1/resources/{resource.pk}/withdraw", {}, format="json")
    assert withdraw.status_code == 200
    response = api_as(None).get(url)
    assert response.status_code == 410 and response.json()["error"]["code"] == "withdrawn"


def test_links_of_a_deactivated_user_stop(api_as, users, big_file_resource):
    resource, _ = big_file_resource
    url = path_of(download(api_as(users["teacher"]), resource).json()["files"][0]["url"])
    users["teacher"].is_active = False
    users["teacher"].save(update_fields=["is_active"])
    assert api_as(None).get(url).json()["error"]["code"] == "download_link_invalid"


def test_refusals_carry_the_reason_as_code_and_the_price(api, api_as, users, priced):
    city = download(api_as(users["teacher"]), priced)
    assert city.status_code == 402
    error = city.json()["error"]
    assert error["code"] == "purchase_required"
    assert error["details"]["price"] == 5 and error["details"]["resource"] == str(priced.pk)
    assert "数字资源券" in error["message"]
    far = download(api_as(users["far_teacher"]), priced)
    assert far.status_code == 403 and far.json()["error"]["code"] == "outside_territory"
    assert far.json()["error"]["details"]["territory"] == priced.rights.territory
    assert download(api, priced).status_code == 401
    assert DownloadEvent.objects.count() == 0
    assert Resource.objects.get(pk=priced.pk).download_count == 0


def test_one_file_of_several(api_as, users, make_resource):
    resource = make_resource()
    second = store_file(resource, "习题.pdf", b"%PDF-1.4 second file")
    client = api_as(users["teacher"])
    payload = download(client, resource, file=str(second.pk)).json()
    assert [f["id"] for f in payload["files"]] == [str(second.pk)]
    assert DownloadEvent.objects.get(pk=payload["download"]).file == second
    assert len(download(client, resource).json()["files"]) == 2
    missing = download(client, resource, file=str(uuid.uuid4()))
    assert missing.status_code == 404


def test_access_endpoint_explains_the_decision(api, api_as, users, priced):
    response = api_as(users["teacher"]).get(f"/api/v1/resources/{priced.pk}/access?action=download").json()
    assert (response["allowed"], response["reason"], response["price"]) == (False, "purchase_required", 5)
    rural = api_as(users["rural_teacher"]).get(f"/api/v1/resources/{priced.pk}/access").json()
    assert (rural["allowed"], rural["reason"], rural["free_for_you"]) == (True, "free_for_category", True)
    assert api.get(f"/api/v1/resources/{priced.pk}/access?action=view_metadata").json()["allowed"] is True
    bad = api.get(f"/api/v1/resources/{priced.pk}/access?action=copy")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"


# --- S3: presigned URLs from a real S3 API (moto server) -------------------------------------------------

def test_s3_download_returns_a_presigned_url_that_serves_the_bytes(api_as, users, make_resource, s3_store):
    resource = make_resource(with_file=False)
    body = b"%PDF-1.4 " + bytes(range(256)) * 8
    store_file(resource, "试卷.pdf", body)
    payload = download(api_as(users["teacher"]), resource).json()
    [link] = payload["files"]
    assert link["delivery"] == "presigned" and "X-Amz-Signature=" in link["url"] and "X-Amz-Expires=300" in link["url"]
    assert DownloadEvent.objects.get(pk=payload["download"]).delivery == "presigned"
    with urllib.request.urlopen(link["url"]) as response:  # noqa: S310 - loopback moto server
        assert response.read() == body
    ranged = urllib.request.Request(link["url"], headers={"Range": "bytes=9-20"})
    with urllib.request.urlopen(ranged) as response:  # noqa: S310 - loopback moto server
        assert response.status == 206 and response.read() == body[9:21]


# --- files of remote resources: fetched through CATALOG_REMOTE_FILE_FETCHER before the link is made ----

ORIGIN_BYTES: dict[str, bytes] = {}


def fetch_from_origin(resource_file):
    """Stands in for federation's fetcher: puts the origin's bytes into the blob store."""
    import os
    import tempfile

    from catalog.remote import remote_file_mark_available
    from catalog.storage import blob_key

    body = ORIGIN_BYTES[resource_file.sha256]
    fd, tmp = tempfile.mkstemp()
    with os.fdopen(fd, "wb") as handle:
        handle.write(body)
    try:
        get_blob_store().put_file(blob_key(resource_file.sha256), tmp, content_type=resource_file.mime)
    finally:
        os.unlink(tmp)
    remote_file_mark_available(sha256=resource_file.sha256)
    resource_file.refresh_from_db()
    return resource_file


def unreachable_origin(resource_file):
    from federation.errors import RemoteFileUnavailableError

    raise RemoteFileUnavailableError("cn-11: unreachable", details={"origin": "cn-11"})


@pytest.fixture
def remote_resource(make_resource):
    import hashlib

    from catalog.models import ResourceFile
    from catalog.storage import blob_key

    resource = make_resource(with_file=False, is_remote=True, origin_node="cn-11")
    body = b"%PDF-1.4 remote courseware"
    sha = hashlib.sha256(body).hexdigest()
    ORIGIN_BYTES[sha] = body
    ResourceFile.objects.create(resource=resource, original_name="远程.pdf", sha256=sha, size=len(body),
                                mime="application/pdf", storage_key=blob_key(sha), available_locally=False)
    return resource, body


def test_a_remote_file_is_fetched_from_its_origin_on_first_download(api_as, users, remote_resource, settings):
    settings.CATALOG_REMOTE_FILE_FETCHER = "tests.licensing.test_downloads.fetch_from_origin"
    resource, body = remote_resource
    response = download(api_as(users["teacher"]), resource)
    assert response.status_code == 200, response.json()
    fetched = api_as(None).get(path_of(response.json()["files"][0]["url"]))
    assert b"".join(fetched.streaming_content) == body


def test_an_unreachable_origin_is_reported_and_nothing_is_recorded(api_as, users, remote_resource, settings):
    settings.CATALOG_REMOTE_FILE_FETCHER = "tests.licensing.test_downloads.unreachable_origin"
    resource, _ = remote_resource
    response = download(api_as(users["teacher"]), resource)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "remote_file_unavailable"
    assert DownloadEvent.objects.count() == 0
    settings.CATALOG_REMOTE_FILE_FETCHER = ""
    unavailable = download(api_as(users["teacher"]), resource)
    assert unavailable.status_code == 503 and unavailable.json()["error"]["code"] == "file_unavailable"


# --- links name the address the client used; a file that cannot be served is no download ----------------

def test_signed_links_use_the_address_the_request_came_to(api_as, users, big_file_resource, settings):
    """A node published at one address but reached at another (another port: ``-p 8443:443``) hands out
    links that work where the client is, not at ``EXCHANGE_BASE_URL``; behind the trusted proxy the scheme
    is the proxy's (``X-Forwarded-Proto``)."""
    resource, body = big_file_resource
    settings.EXCHANGE_BASE_URL = "https://node.example.edu.cn"
    settings.ALLOWED_HOSTS = ["node.example.edu.cn", "127.0.0.1"]
    client = api_as(users["teacher"])
    response = client.post(f"/api/v1/resources/{resource.pk}/download", {}, format="json",
                           HTTP_HOST="127.0.0.1:8443")
    [link] = response.json()["files"]
    assert link["url"].startswith("http://127.0.0.1:8443/files/"), link["url"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = client.post(f"/api/v1/resources/{resource.pk}/download", {}, format="json",
                          HTTP_HOST="node.example.edu.cn:8443", HTTP_X_FORWARDED_PROTO="https")
    [link] = proxied.json()["files"]
    assert link["url"].startswith("https://node.example.edu.cn:8443/files/"), link["url"]
    fetched = api_as(None).get(path_of(link["url"]), HTTP_HOST="node.example.edu.cn:8443",
                               HTTP_X_FORWARDED_PROTO="https")
    assert b"".join(fetched.streaming_content) == body
    refused = client.post(f"/api/v1/resources/{resource.pk}/download", {}, format="json", HTTP_HOST="evil.example")
    assert refused.status_code == 400  # a host that is not the node's is refused, never put into a link
    assert DownloadEvent.objects.count() == 2


def test_the_download_page_redirects_to_the_address_the_browser_used(client, users, big_file_resource, settings):
    resource, _ = big_file_resource
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    client.force_login(users["teacher"])
    response = client.post(f"/resources/{resource.pk}/download", HTTP_HOST="127.0.0.1:8101")
    assert response.status_code == 302 and response["Location"].startswith("http://127.0.0.1:8101/files/")


def _lose_the_bytes(resource) -> None:
    store = get_blob_store()
    for file in resource.files.all():
        store.delete(file.storage_key)


def test_a_file_missing_from_the_store_is_not_a_download(api_as, users, big_file_resource):
    """The store lost the bytes (a restore without the blobs, a bucket emptied): the download is refused
    as unavailable, and nothing is recorded or counted."""
    resource, _ = big_file_resource
    _lose_the_bytes(resource)
    response = download(api_as(users["teacher"]), resource)
    assert response.status_code == 503 and response.json()["error"]["code"] == "file_unavailable", response.json()
    assert DownloadEvent.objects.count() == 0
    assert Resource.objects.get(pk=resource.pk).download_count == 0
    assert not AuditEvent.objects.filter(action="resource.download").exists()


def test_a_missing_object_in_s3_is_not_a_download(api_as, users, make_resource, s3_store):
    """The same with presigned links: a link to an object that is not there would only fail at the
    browser, after the node had counted it."""
    resource = make_resource(with_file=False)
    store_file(resource, "试卷.pdf", b"%PDF-1.4 lost")
    _lose_the_bytes(resource)
    response = download(api_as(users["teacher"]), resource)
    assert response.status_code == 503 and response.json()["error"]["code"] == "file_unavailable"
    assert DownloadEvent.objects.count() == 0 and Resource.objects.get(pk=resource.pk).download_count == 0


def test_a_link_to_bytes_lost_after_it_was_issued_says_unavailable(api_as, users, big_file_resource):
    resource, _ = big_file_resource
    [link] = download(api_as(users["teacher"]), resource).json()["files"]
    _lose_the_bytes(resource)
    client = api_as(None)
    client.raise_request_exception = False
    fetched = client.get(path_of(link["url"]))
    assert fetched.status_code == 503 and fetched.json()["error"]["code"] == "file_unavailable"
