"""What an operator relies on, checked on the running production topology (``conftest.py``): the container
healthcheck, ``/metrics`` through nginx (internal networks only, figures of every worker), request ids
shared by nginx's and the node's logs, retries run by rq's scheduler, the sync loop's interval, pages and
static files in production mode behind TLS."""

from __future__ import annotations

import http.client
import json
import re
import secrets
import socket
import ssl
from urllib.parse import urlsplit

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.production.stack import PULL_INTERVAL, ProdNode, compose_command, compose_services, wait_until


def metrics_via_nginx(stack, *, source: str = "127.0.0.1", host: str | None = None) -> tuple[int, str]:
    """GET /metrics from nginx's TLS site, connecting from ``source`` (another loopback address is another
    client as far as nginx's allow rules go), naming ``host`` (default: the site's)."""
    url = urlsplit(stack.p44.public_url)
    context = ssl.create_default_context(cafile=str(stack.backends.ca_bundle))
    raw = socket.create_connection(("127.0.0.1", url.port), timeout=30, source_address=(source, 0))
    connection = http.client.HTTPSConnection("localhost", url.port, context=context, timeout=30)
    connection.sock = context.wrap_socket(raw, server_hostname="localhost")
    try:
        connection.request("GET", "/metrics", headers={"Host": host or url.netloc})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(found: dict, name: str, **labels: str) -> float:
    return sum(value for (metric, pairs), value in found.items()
               if metric == name and all(dict(pairs).get(k) == v for k, v in labels.items()))


def shell(node: ProdNode, code: str) -> str:
    return node.manage("shell", "-c", code).stdout.strip().splitlines()[-1]


def test_the_container_healthcheck_passes_on_every_node(stack):
    check = compose_services()["web"]["healthcheck"]["test"]
    assert check[0] == "CMD"
    for node in stack.nodes:
        probe = node.run(check[1:], check=False, timeout=60)
        assert probe.returncode == 0, (node.node_id, probe.stderr)


def test_metrics_answer_internal_networks_only_under_the_nodes_name(stack):
    status, text = metrics_via_nginx(stack, host="prometheus.internal:9090")  # any name the scraper uses
    assert status == 200, text[:500]
    assert "exchange_http_requests_total" in text
    status, text = metrics_via_nginx(stack, source="127.0.0.2")  # not in nginx's allow list
    assert status == 403


def test_the_operators_figures_are_there_and_the_same_whichever_worker_answers(stack):
    p44 = stack.p44
    assert p44.api("GET", "/api/v1/search", params={"q": "有理数"}).status_code == 200
    downloads = int(shell(p44, "from licensing.models import DownloadEvent; print(DownloadEvent.objects.count())"))
    scrapes = [samples(metrics_via_nginx(stack)[1]) for _ in range(6)]
    assert {total(found, "exchange_downloads_total") for found in scrapes} == {downloads}
    found = scrapes[-1]
    assert total(found, "exchange_search_duration_seconds_count", kind="search") >= 1
    assert total(found, "exchange_http_request_duration_seconds_count", view="api-search") >= 1
    assert ("exchange_federation_peer_lag_seconds", (("peer", "cn-hub"),)) in found
    assert total(found, "exchange_federation_peer_consecutive_failures", peer="cn-hub") == 0
    assert total(found, "exchange_job_workers") >= 1
    for state in ("queued", "started", "scheduled", "failed"):
        assert ("exchange_jobs", (("queue", "exchange"), ("state", state))) in found, state
    assert ("exchange_review_backlog", (("status", "submitted"),)) in found
    assert ("exchange_search_index_pending", ()) in found
    assert total(found, "exchange_metrics_collector_up") == 3


def test_a_request_has_one_id_in_nginx_and_in_the_node(stack):
    p44 = stack.p44
    response = p44.api("GET", "/api/v1/search", params={"q": "课件"}, headers={"X-Request-ID": "spoofed-by-client-0"})
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id, not the client's
    wait_until(lambda: f"request_id={request_id}" in (stack.nginx_dir / "access.log").read_text(),
               timeout=30, what="nginx's access line")
    lines = wait_until(lambda: [json.loads(line) for line in p44.log("web").splitlines()
                                if line.startswith("{") and request_id in line],
                       timeout=30, what="the node's access line")
    [access] = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert access["request_id"] == request_id and access["path"] == "/api/v1/search" and access["status"] == 200


def test_a_failed_job_is_retried_by_rqs_scheduler(stack, tmp_path):
    """rq puts a failed job with retries left in its scheduled registry; only the scheduler (run by
    ``manage.py rqworker``) puts it back on the queue when its interval is over."""
    marker = tmp_path / f"job-{secrets.token_hex(4)}"
    stack.p44.manage("shell", "-c", "from exchange.jobs import enqueue\n"
                     f"enqueue('tests.production.jobs.fail_once', marker={str(marker)!r})")
    wait_until(lambda: marker.exists() and marker.read_text() == "succeeded", timeout=90, interval=0.5,
               what="the job's retry to succeed")


def test_the_sync_loop_ticks_at_the_configured_interval(stack):
    """``federation sync --loop`` as compose runs it (no --interval) follows FEDERATION_PULL_INTERVAL."""
    for node in stack.nodes:
        assert f"syncing every {PULL_INTERVAL:g}s" in node.log("sync"), node.log("sync")[:500]


def test_pages_and_static_files_in_production_behind_tls(stack):
    p44 = stack.p44
    home = p44.api("GET", "/")
    assert home.status_code == 200 and "text/html" in home.headers["Content-Type"]
    hsts = home.headers["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts and "preload" not in hsts
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', home.text)
    assert stylesheet, home.text[:1000]
    assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet[1])  # the manifest's hashed name: collectstatic ran
    css = p44.api("GET", stylesheet[1])
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    plain = requests.get(f"http://127.0.0.1:{stack.http_port}/", allow_redirects=False, timeout=30)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")


def test_the_one_shot_job_can_run_again(stack):
    """An upgrade runs the migrate service again on a live node: nothing to migrate, the bucket is there."""
    result = stack.p11.run(compose_command("migrate"), timeout=300)
    assert "No migrations to apply" in result.stdout and "blob store exchange-cn-11: ready" in result.stdout
