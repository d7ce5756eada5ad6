"""Real backend servers for the test suite, started on loopback and stopped afterwards.

Used by session fixtures (Redis, S3 via moto's server mode, the Elasticsearch-API server, nginx with
``deploy/nginx.conf``, gunicorn with ``deploy/gunicorn.conf.py``) and by
``python -m tests.servers postgres -- CMD...`` which runs a command with ``DATABASE_URL`` pointing
at a throw-away PostgreSQL cluster (the PostgreSQL lane of ``make test``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

PG_BIN_DIRS = [Path(p) for p in os.environ.get("PG_BIN_DIRS", "").split(":") if p] + [
    Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14)
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """``n`` different free ports (``free_port`` called n times may repeat one)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def wait_for_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback only
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True`` and every process of its group (a
    launcher's child outlives the launcher otherwise)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _venv_bin(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


# --- Redis ---------------------------------------------------------------------------------

def redis_missing_reason() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian package 'redis-server'; .ci/run installs it)"
    return None


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="test-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


# --- S3 (moto server mode) ------------------------------------------------------------------

@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    port = free_port()
    exe = _venv_bin("moto_server")
    if exe is None:
        raise RuntimeError("moto_server not found; install the test extras (pip install -e '.[test]')")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/moto-api/", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


# --- Elasticsearch API (noida-db, or a real cluster via ELASTICSEARCH_URL) -------------------

@contextlib.contextmanager
def elasticsearch_server() -> Iterator[str]:
    external = os.environ.get("ELASTICSEARCH_URL")
    if external:
        yield external
        return
    exe = _venv_bin("noida-db")
    if exe is None:
        raise RuntimeError("noida-db not found; install the test extras (pip install -e '.[test]')")
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="test-es-")
    proc = subprocess.Popen([exe, "start", "--only", "elasticsearch", "--data-dir", data_dir,
                             "--elasticsearch-port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=60, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc)  # the venv's noida-db is a launcher: the server is its child
        shutil.rmtree(data_dir, ignore_errors=True)


# --- PostgreSQL -----------------------------------------------------------------------------

def pg_bin_dir() -> Path | None:
    return next((d for d in PG_BIN_DIRS if (d / "initdb").exists()), None)


def postgres_missing_reason() -> str | None:
    if pg_bin_dir() is None:
        return ("PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin; "
                "Debian package 'postgresql'): the PostgreSQL lane is skipped")
    return None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:  # initdb refuses to run as root
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    bindir = pg_bin_dir()
    if bindir is None:
        raise RuntimeError(postgres_missing_reason())
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="test-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(_as_postgres_user([str(bindir / "initdb"), "-D", str(data), "-U", "exchange", "-A", "trust",
                                      "-E", "UTF8", "--locale=C.UTF-8"]), check=True, stdout=subprocess.DEVNULL)
    log = root / "server.log"
    started = subprocess.run(_as_postgres_user([
        str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
        f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=200", "start"]), stdout=subprocess.DEVNULL)
    if started.returncode != 0:
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no server log)"
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start:\n{detail}")
    try:
        subprocess.run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "exchange", "exchange"],
                       check=True)
        yield f"postgres://exchange@127.0.0.1:{port}/exchange"
    finally:
        subprocess.run(_as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


# --- gunicorn (deploy/gunicorn.conf.py) -------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def gunicorn_command(*args: str) -> list[str]:
    """``gunicorn -c deploy/gunicorn.conf.py ARGS...`` from the virtualenv. gunicorn ≥ 27 opens a control
    socket at one default path per machine; several gunicorns side by side (tests) must not share it."""
    cmd = [_venv_bin("gunicorn") or "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    return [*cmd, *gunicorn_side_by_side_args(), *args]


def gunicorn_side_by_side_args() -> list[str]:
    """What a gunicorn needs on a machine where other gunicorns run (a container has its own)."""
    return ["--no-control-socket"] if int(metadata.version("gunicorn").split(".")[0]) >= 27 else []


# --- nginx (deploy/nginx.conf) ------------------------------------------------------------------

def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def nginx_version() -> tuple[int, ...] | None:
    nginx = nginx_binary()
    if nginx is None:
        return None
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(part) for part in match.groups()) if match else None


def nginx_missing_reason() -> str | None:
    if nginx_version() is None:
        return "nginx is not installed (Debian package 'nginx'; .ci/run installs it)"
    return None


def self_signed_certificate(directory: Path, names: Sequence[str] = ("node.example.edu.cn",)) -> tuple[Path, Path]:
    """A certificate and key (PEM) for ``names`` (host names or IP addresses), valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def alt_name(name: str) -> x509.GeneralName:
        try:
            return x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            return x509.DNSName(name)

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([alt_name(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _replace(text: str, old: str, new: str, count: int) -> str:
    found = text.count(old)
    if found != count:  # the deploy file changed: fail loudly rather than test something else
        raise AssertionError(f"deploy/nginx.conf: {old!r} found {found} times, expected {count}")
    return text.replace(old, new)


def nginx_config(directory: Path, *, upstream_port: int, https_port: int, http_port: int,
                 files_port: int | None = None, files_upstream_port: int | None = None,
                 server_name: str = "node.example.edu.cn", certificate_names: Sequence[str] = ()) -> Path:
    """``deploy/nginx.conf`` as it is, placed on loopback ports in ``directory``: only addresses, ports,
    the server names and file paths change (each replacement must apply), and ``http2 on`` (nginx ≥
    1.25.1) is dropped on an older nginx. The node's site listens on ``https_port``, the object store's
    on ``files_port`` (proxying to ``files_upstream_port``). Returns the main configuration file."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    cert, key = self_signed_certificate(directory, [server_name, *certificate_names])
    files_port = files_port or free_port()
    site = _replace(site, "server web:8000;", f"server 127.0.0.1:{upstream_port};", 1)
    site = _replace(site, "server minio:9000;", f"server 127.0.0.1:{files_upstream_port or 9};", 1)
    site = _replace(site, "listen 443 ssl;", "LISTEN_TLS", 2)
    site = site.replace("LISTEN_TLS", f"listen 127.0.0.1:{https_port} ssl;", 1)
    site = site.replace("LISTEN_TLS", f"listen 127.0.0.1:{files_port} ssl;", 1)
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};", 1)
    site = _replace(site, "server_name node.example.edu.cn files.node.example.edu.cn;",
                    f"server_name {server_name} files.{server_name};", 1)
    site = _replace(site, "server_name node.example.edu.cn;", f"server_name {server_name};", 1)
    site = _replace(site, "server_name files.node.example.edu.cn;", f"server_name files.{server_name};", 1)
    site = _replace(site, "/etc/nginx/tls/fullchain.pem", str(cert), 2)
    site = _replace(site, "/etc/nginx/tls/privkey.pem", str(key), 2)
    site = _replace(site, "/var/log/nginx/access.log", str(directory / "access.log"), 3)
    if (nginx_version() or (0,)) < (1, 25, 1):
        site = _replace(site, "http2 on;", "", 2)
    (directory / "site.conf").write_text(site)
    main = directory / "nginx.conf"
    # As root nginx would run its workers as "nobody", who cannot enter the test's private directories.
    user = "user root;" if os.geteuid() == 0 else ""
    main.write_text(f"""
daemon off;
{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/site.conf;
}}
""")
    return main


@contextlib.contextmanager
def nginx_server(config: Path, *, port: int) -> Iterator[subprocess.Popen]:
    """nginx with ``config`` (checked with ``nginx -t`` first), until the block ends."""
    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError(nginx_missing_reason())
    prefix = str(config.parent)
    checked = subprocess.run([nginx, "-t", "-p", prefix, "-c", str(config)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t refused the configuration:\n{checked.stderr}")
    proc = subprocess.Popen([nginx, "-p", prefix, "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc)
        yield proc
    finally:
        stop(proc)


def main(argv: list[str]) -> int:
    """``python -m tests.servers postgres -- pytest ...``: run a command against a fresh PostgreSQL."""
    if len(argv) < 3 or argv[0] != "postgres" or argv[1] != "--":
        print("usage: python -m tests.servers postgres -- COMMAND...", file=sys.stderr)
        return 2
    reason = postgres_missing_reason()
    if reason:
        print(f"SKIPPED PostgreSQL lane: {reason}")
        return 0
    with postgres_server() as url:
        env = dict(os.environ, DATABASE_URL=url)
        print(f"PostgreSQL lane: {url}", flush=True)
        return subprocess.call(argv[2:], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
