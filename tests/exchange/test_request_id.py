"""Every request has an id: taken from the trusted reverse proxy's ``X-Request-ID`` (so nginx's log line
and the node's can be matched) or made here, returned in the response's ``X-Request-ID`` and written on
every log line of the request — those logged inside the views and Django's own ``django.request`` line
written after the response. A client cannot choose its id."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from exchange.logging import JsonFormatter, RedactSecretsFilter, RequestContextFilter
from exchange.middleware import RequestIdMiddleware

PROXY_ID = "3f2a9c1e0b7d4e6fa1c2d3e4f5a6b7c8"


@pytest.fixture
def json_log():
    """The node's console handler as settings assemble it (request filter, redaction, JSON), writing to a
    buffer; attached where Django's loggers and the root logger write."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(), logging.getLogger("django")]
    for logger in loggers:
        logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for logger in loggers:
        logger.removeHandler(handler)


def test_a_response_carries_a_new_id(client, db):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_the_trusted_proxys_id_is_kept_a_clients_is_not(client, db, settings):
    settings.TRUSTED_PROXIES = []
    spoofed = client.get("/healthz", HTTP_X_REQUEST_ID=PROXY_ID)
    assert spoofed["X-Request-ID"] != PROXY_ID
    settings.TRUSTED_PROXIES = ["127.0.0.1"]  # the test client's REMOTE_ADDR: the proxy
    proxied = client.get("/healthz", HTTP_X_REQUEST_ID=PROXY_ID)
    assert proxied["X-Request-ID"] == PROXY_ID
    for bad in ("short", "x" * 129, "a b c d e f g h", "id\nwith-newline-0123"):
        assert client.get("/healthz", HTTP_X_REQUEST_ID=bad)["X-Request-ID"] != bad


def test_djangos_error_line_written_after_the_response_carries_the_id(client, db, settings, json_log):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = client.get("/no-such-page-here", HTTP_X_REQUEST_ID=PROXY_ID)
    assert response.status_code == 404 and response["X-Request-ID"] == PROXY_ID
    [line] = [entry for entry in json_log() if entry["logger"] == "django.request"]
    assert line["request_id"] == PROXY_ID and "Not Found" in line["msg"]


def test_lines_logged_while_the_request_is_handled_carry_its_id(json_log):
    def view(request):
        logging.getLogger("exchange.test").warning("inside the view", extra={"peer": "cn-11"})
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/"))
    logging.getLogger("exchange.test").warning("after the request")
    inside, after = json_log()
    assert inside["request_id"] == response["X-Request-ID"] and inside["peer"] == "cn-11"
    assert "request_id" not in after
