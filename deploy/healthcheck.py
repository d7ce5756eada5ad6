"""Container healthcheck of a web process: ``GET /readyz`` on this container's gunicorn, exit 0 when ready.

The request names the node's own host (the first of ``ALLOWED_HOSTS``): Django refuses any other Host
header with 400, so a probe of ``http://127.0.0.1:8000/readyz`` as such would never pass. ``/readyz``
answers over plain HTTP (``SECURE_REDIRECT_EXEMPT``), as the probe does not go through the TLS proxy.
Only the standard library: it runs every 30 s and must not start Django.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe_host() -> str:
    for entry in os.environ.get("ALLOWED_HOSTS", "").split(","):
        entry = entry.strip()
        if entry and entry != "*":
            return entry.lstrip(".")  # ".example.edu.cn" allows example.edu.cn and its subdomains
    return "localhost"


def main() -> int:
    port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rsplit(":", 1)[-1]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/readyz", headers={"Host": probe_host()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a fixed loopback URL
            status = response.status
            body = response.read(2000)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(2000)
    except OSError as exc:
        print(f"not ready: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"not ready: {status} {body.decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
