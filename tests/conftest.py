"""Fixtures shared by the whole suite: vocabularies loaded once, an isolated blob store per test,
users of every role, API clients, and real backend servers started once per session."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from tests import factories, servers
from tests.requirements import ffmpeg, preview_tools, unavailable  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from catalog.vocab import vocabularies_load
    from exchange.services import roles_ensure

    with django_db_blocker.unblock():
        vocabularies_load()
        roles_ensure()


@pytest.fixture(autouse=True)
def isolated_blob_store(settings, tmp_path):
    """Every test writes files into its own directory (and hashes test passwords cheaply). Previews are
    rendered only in the tests that ask for them (``CATALOG_PREVIEWS_AUTO``): in-process, each upload of
    an office file would wait for LibreOffice."""
    from catalog.storage import reset_blob_store_cache

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CATALOG_BLOB_ROOT = tmp_path / "blobs"
    settings.CATALOG_BLOB_STORE = "catalog.storage.LocalBlobStore"
    settings.CATALOG_PREVIEWS_AUTO = False
    reset_blob_store_cache()
    yield
    reset_blob_store_cache()


@pytest.fixture
def reload_base_data_after_flush(django_db_blocker):
    """Request it before ``transactional_db`` (or use ``committed_db``): the flush that ends a
    transactional test empties every table, and this teardown, which runs after it, reloads what
    ``django_db_setup`` loads once per session, so later tests find their vocabularies and roles."""
    yield
    from catalog.vocab import vocabularies_load
    from exchange.services import roles_ensure

    with django_db_blocker.unblock():
        vocabularies_load()
        roles_ensure()


@pytest.fixture
def committed_db(reload_base_data_after_flush, transactional_db):
    """A database whose writes commit (threads and other processes see them), emptied afterwards and
    given back its session data."""


@pytest.fixture
def committed_demo(committed_db, province):
    """The demo organisations and users, committed; the city school has 10 students on record."""
    orgs = factories.demo_organisations(province)
    users = factories.demo_users(orgs)
    orgs["city_school"].student_count = 10
    orgs["city_school"].save(update_fields=["student_count"])
    return orgs, users


@pytest.fixture
def province():
    return django_settings.EXCHANGE_NODE_REGION[:2] + "0000"


@pytest.fixture
def orgs(db, province):
    return factories.demo_organisations(province)


@pytest.fixture
def users(orgs):
    return factories.demo_users(orgs)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def api_as():
    """``api_as(user)`` → an API client authenticated with the user's token."""

    def make(user) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture(scope="session")
def redis_url():
    reason = servers.redis_missing_reason()
    if reason:
        unavailable(reason)
    with servers.redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint():
    with servers.s3_server() as url:
        yield url


@pytest.fixture
def s3_store(settings, s3_endpoint):
    """The S3 blob store on the session's moto server, with a fresh bucket for this test."""
    import uuid

    import boto3

    from catalog.storage import get_blob_store, reset_blob_store_cache

    bucket = f"exchange-{uuid.uuid4().hex[:12]}"
    settings.S3_BUCKET, settings.S3_ENDPOINT_URL = bucket, s3_endpoint
    settings.S3_ACCESS_KEY_ID, settings.S3_SECRET_ACCESS_KEY = "test-access", "test-secret"
    settings.CATALOG_BLOB_STORE = "catalog.storage.S3BlobStore"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test-access",
                 aws_secret_access_key="test-secret").create_bucket(Bucket=bucket)
    reset_blob_store_cache()
    yield get_blob_store()
    reset_blob_store_cache()


@pytest.fixture(scope="session")
def elasticsearch_url():
    with servers.elasticsearch_server() as url:
        yield url


def pytest_report_header(config):
    engine = django_settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"database backend: {engine}"
