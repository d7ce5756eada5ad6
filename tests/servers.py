"""Real backend servers for the test suite, started on loopback and stopped afterwards.

Used by session fixtures (Redis, S3 via moto's server mode, the Elasticsearch-API server) and by
``python -m tests.servers postgres -- CMD...`` which runs a command with ``DATABASE_URL`` pointing
at a throw-away PostgreSQL cluster (the PostgreSQL lane of ``make test``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
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
