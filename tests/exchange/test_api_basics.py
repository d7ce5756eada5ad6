"""API basics: one error shape, token auth, OpenAPI schema, health and readiness, production settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from exchange.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]


def test_token_login_and_me(api, users):
    response = api.post("/api/v1/auth/token", {"username": "teacher", "password": "test-pass-teacher"}, format="json")
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = api.get("/api/v1/me").json()
    assert me["username"] == "teacher" and me["roles"] == ["teacher"]
    assert me["organisation"]["kind"] == "school"


def test_wrong_password_is_401_and_audited(api, users):
    response = api.post("/api/v1/auth/token", {"username": "teacher", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert AuditEvent.objects.filter(action="auth.login_failed", actor="teacher").exists()


def test_error_shape_for_unknown_api_path_and_bad_json(api, api_as, users):
    response = api.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
    response = api_as(users["publisher"]).post("/api/v1/resources", "{bad", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"
    response = api.get("/api/v1/resources/not-a-uuid")
    assert response.status_code == 404 and "error" in response.json()


def test_method_not_allowed_has_error_shape(api):
    response = api.delete("/api/v1/vocabularies")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/resources" in paths and "/api/v1/resources/{resource_id}" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    assert b"cdn" not in docs.content.lower()  # assets are served by the node itself


def test_readyz_reports_each_backend(client, db):
    response = client.get("/readyz")
    body = response.json()
    assert {"database", "storage", "queue"} <= set(body["checks"])
    assert response.status_code == 200, body
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_fails_when_storage_is_unwritable(client, db, settings, tmp_path):
    from catalog.storage import reset_blob_store_cache

    settings.CATALOG_BLOB_STORE = "catalog.storage.S3BlobStore"
    settings.S3_BUCKET, settings.S3_ENDPOINT_URL = "missing", "http://127.0.0.1:9"  # nothing listens there
    reset_blob_store_cache()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False


def test_metrics_exposes_prometheus_text(client, db):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200 and b"exchange_http_requests_total" in response.content


def test_vocabularies_endpoint(api, db):
    vocab = api.get("/api/v1/vocabularies").json()["vocabularies"]
    assert {"stage", "subject", "grade", "resource_type", "region"} <= set(vocab)
    junior = next(t for t in vocab["stage"] if t["code"] == "初中")
    assert junior["label"] == {"zh-Hans": "初中", "en": "Junior secondary school"}


def _manage(*args, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}} | env_extra
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = _manage("check", env_extra={"EXCHANGE_ENV": "production", "EXCHANGE_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_extra={
        "EXCHANGE_ENV": "production", "EXCHANGE_DATA_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 20 + "-production-test-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "node.example.org"})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_generated_into_data_dir(tmp_path):
    result = _manage("shell", "-c", "from django.conf import settings; print(len(settings.SECRET_KEY))",
                     env_extra={"EXCHANGE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode)[-3:] == "600"
    assert int(result.stdout.strip().splitlines()[-1]) >= 50


def test_a_hub_on_default_settings_sets_itself_up(tmp_path):
    """EXCHANGE_NODE_ROLE=hub with nothing else: the default region is a real province, so the
    database, demo accounts and the node document come up."""
    env = {"EXCHANGE_DATA_DIR": str(tmp_path), "EXCHANGE_NODE_ROLE": "hub", "EXCHANGE_NODE_ID": "cn-hub"}
    for step in (("migrate", "--no-input"), ("load_vocabularies",), ("seed_demo",)):  # as `make setup`
        result = _manage(*step, env_extra=env)
        assert result.returncode == 0, result.stderr[-2000:]
    assert "hub_operator" in (tmp_path / "demo_accounts.txt").read_text()
    result = _manage("shell", "-c", "from federation.identity import well_known_document as d; print(d()['region'])",
                     env_extra=env)
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1] == "110000"
