"""Sign-in under attack: the client address is the trusted-proxy reading of ``X-Forwarded-For`` (a spoofed
header neither resets a limit nor lands in the audit log), both doors — the web form and the API token
endpoint — lock a username out *at one address* after repeated failures (429, ``too_many_attempts`` with
``Retry-After`` on the API, a translated page on the web), the per-address rate covers both doors, and
every failure, lockout and refused attempt is in the audit log."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.conf import settings as django_settings
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from exchange.audit import audit_verify
from exchange.clientip import client_ip
from exchange.models import AuditEvent

ATTACKER = "203.0.113.66"
VICTIM_ADDRESS = "198.51.100.20"
PROXY = "192.0.2.10"
LIMIT = getattr(django_settings, "AXES_FAILURE_LIMIT", 5)
COOLOFF_SECONDS = getattr(django_settings, "AXES_COOLOFF_TIME", dt.timedelta(minutes=15)).total_seconds()
_spoofs = (f"100.64.{i // 250}.{i % 250 + 1}" for i in itertools.count())


def spoofed() -> str:
    """A different made-up X-Forwarded-For value on every call."""
    return next(_spoofs)


def api_login(username: str, password: str, *, remote: str = ATTACKER, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return APIClient().post("/api/v1/auth/token", {"username": username, "password": password}, format="json",
                            **extra)


def web_login(username: str, password: str, *, remote: str = ATTACKER, forwarded: str | None = None,
              language: str | None = None):
    client = Client()
    if language:
        client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


# --- the client address --------------------------------------------------------------------------------

@pytest.mark.parametrize(("trusted", "remote", "forwarded", "expected"), [
    ([], ATTACKER, "1.2.3.4", ATTACKER),                                  # no proxy configured: header ignored
    ([PROXY], ATTACKER, "1.2.3.4", ATTACKER),                             # peer is not the proxy: header ignored
    ([PROXY], PROXY, "1.2.3.4, 203.0.113.5", "203.0.113.5"),              # rightmost hop the proxy appended
    (["192.0.2.0/24"], PROXY, "203.0.113.5, 192.0.2.77", "203.0.113.5"),  # two proxies of the trusted network
    ([PROXY], PROXY, "", PROXY),                                          # no header: the proxy itself
    ([PROXY], PROXY, "203.0.113.5, not-an-address", PROXY),               # junk where an address should be
    ([PROXY], f"::ffff:{PROXY}", "203.0.113.5", "203.0.113.5"),           # IPv4-mapped IPv6 peer
    (["2001:db8:1::/48"], "2001:db8:1::1", "[2001:db8:ffff::9]:443, 2001:db8:1::2", "2001:db8:ffff::9"),
    (["2001:db8:1::/48"], "2001:db8:1::1", "198.51.100.1:5000, 2001:db8:1::3", "198.51.100.1"),
    (["2001:db8:1::/48"], "2001:db8:1::1", "2001:db8:ffff::9, 198.51.100.1", "198.51.100.1"),
])
def test_client_ip_trusts_forwarded_for_only_through_trusted_proxies(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


# --- the per-address rate --------------------------------------------------------------------------------

def test_spoofed_forwarded_for_does_not_reset_the_api_sign_in_rate(users):
    """DRF's own throttle keys on a client-sent X-Forwarded-For: a new value per request was a fresh limit."""
    statuses = [api_login(f"nobody-{n}", "wrong", forwarded=spoofed()).status_code for n in range(10)]
    assert statuses == [401] * 10
    response = api_login("nobody-x", "wrong", forwarded=spoofed())
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1
    # Another client is not affected.
    assert api_login("teacher", "test-pass-teacher", remote=VICTIM_ADDRESS).status_code == 200


def test_web_form_is_rate_limited_per_address_together_with_the_api(users):
    for n in range(5):
        assert api_login(f"nobody-{n}", "wrong", forwarded=spoofed()).status_code == 401
    for n in range(5):
        assert web_login(f"nobody-web-{n}", "wrong", forwarded=spoofed()).status_code == 200
    response = web_login("teacher", "test-pass-teacher", forwarded=spoofed())
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert "登录尝试次数过多" in response.content.decode()


# --- lockout of a username at one address ---------------------------------------------------------------

def test_api_locks_out_a_username_at_an_address_whatever_forwarded_for_says(users):
    for _ in range(LIMIT - 1):
        assert api_login("teacher", "wrong", forwarded=spoofed()).status_code == 401
    response = api_login("teacher", "wrong", forwarded=spoofed())
    assert response.status_code == 429
    body = response.json()["error"]
    assert body["code"] == "too_many_attempts"
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= COOLOFF_SECONDS
    assert body["details"]["retry_after"] == retry_after
    # Even the right password is refused now, and no token is issued.
    refused = api_login("teacher", "test-pass-teacher", forwarded=spoofed())
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_attempts"
    assert "token" not in refused.json()


def test_a_lockout_does_not_lock_the_owner_out_from_elsewhere(users):
    """Locking by username alone would let anybody lock a teacher out of their account."""
    for _ in range(LIMIT):
        api_login("teacher", "wrong")
    assert api_login("teacher", "test-pass-teacher").status_code == 429
    assert api_login("teacher", "test-pass-teacher", remote=VICTIM_ADDRESS).status_code == 200
    assert web_login("teacher", "test-pass-teacher", remote=VICTIM_ADDRESS).status_code == 302
    # Nor another account at the attacker's address (a school behind one NAT address).
    assert api_login("rural_teacher", "test-pass-rural_teacher").status_code == 200


def test_web_form_locks_out_with_a_translated_page(users):
    for _ in range(LIMIT - 1):
        response = web_login("teacher", "wrong", forwarded=spoofed())
        assert response.status_code == 200 and "用户名或密码不正确" in response.content.decode()
    locked = web_login("teacher", "wrong", forwarded=spoofed())
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= COOLOFF_SECONDS
    assert "登录尝试次数过多" in locked.content.decode()
    english = web_login("teacher", "test-pass-teacher", language="en")
    assert english.status_code == 429
    assert "Too many sign-in attempts" in english.content.decode()
    assert "_auth_user_id" not in english.client.session


def test_failures_on_both_doors_count_together(users):
    for _ in range(2):
        web_login("teacher", "wrong")
    for _ in range(LIMIT - 3):
        api_login("teacher", "wrong")
    assert web_login("teacher", "wrong").status_code == 429
    assert api_login("teacher", "test-pass-teacher").json()["error"]["code"] == "too_many_attempts"


def test_a_successful_sign_in_resets_the_count(users):
    for _ in range(LIMIT - 1):
        api_login("teacher", "wrong")
    assert api_login("teacher", "test-pass-teacher").status_code == 200
    for _ in range(LIMIT - 1):
        assert api_login("teacher", "wrong").status_code == 401


def test_behind_a_trusted_proxy_each_client_is_counted_apart(users, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    for _ in range(LIMIT):
        api_login("teacher", "wrong", remote=PROXY, forwarded=f"10.9.9.9, {ATTACKER}")
    refused = api_login("teacher", "test-pass-teacher", remote=PROXY, forwarded=ATTACKER)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_attempts"
    assert api_login("teacher", "test-pass-teacher", remote=PROXY, forwarded=VICTIM_ADDRESS).status_code == 200


# --- the audit log ---------------------------------------------------------------------------------------

def test_every_failure_lockout_and_refusal_is_audited_with_the_client_address(users, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    forwarded = f"6.6.6.6, {ATTACKER}"  # the left part is the client's own claim
    web_login("teacher", "wrong", remote=PROXY, forwarded=forwarded)
    for _ in range(LIMIT - 1):
        api_login("teacher", "wrong", remote=PROXY, forwarded=forwarded)
    web_login("teacher", "test-pass-teacher", remote=PROXY, forwarded=forwarded)
    api_login("teacher", "test-pass-teacher", remote=PROXY, forwarded=forwarded)

    events = list(AuditEvent.objects.filter(action__startswith="auth.").order_by("seq"))
    assert [(e.action, e.data["channel"]) for e in events] == [
        ("auth.login_failed", "web"),
        *[("auth.login_failed", "api")] * (LIMIT - 1),
        ("auth.locked_out", "api"),
        ("auth.login_refused", "web"),
        ("auth.login_refused", "api"),
    ]
    assert {e.ip for e in events} == {ATTACKER}
    assert {e.actor for e in events} == {"teacher"}
    assert [e.data["failures"] for e in events if e.action == "auth.login_failed"] == list(range(1, LIMIT + 1))
    assert audit_verify() == []


def test_an_overlong_username_is_refused_before_any_record(users):
    """Longer than any username can be: 400, not a database error in the attempt record (PostgreSQL)."""
    response = api_login("x" * 5000, "wrong")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"
    assert api_login("x" * 150, "wrong").status_code == 401
    assert AuditEvent.objects.get(action="auth.login_failed").actor == "x" * 150
