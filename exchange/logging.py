"""Structured logs: one JSON object per line, with secrets redacted before they leave the process.

Redacted: credentials and tokens in ``key=value`` / ``Authorization:`` form, presigned-URL signatures,
private keys, and the secret part of URL paths listed in ``settings.LOG_REDACT_PATH_PREFIXES`` (the
node-signed download links ``/files/<token>``: whoever reads a log must not be able to download with
it). The filter is on every handler Django configures (``LOGGING``), including runserver's access log
(``django.server``); gunicorn uses :class:`GunicornLogger` (``deploy/gunicorn.conf.py``) for its access
and error logs; nginx has a log format of its own (``deploy/nginx.conf``).

Every line written while a request is handled carries its id (``request_id``): the request-id
middleware binds it (:func:`request_id_bound`) and :class:`RequestContextFilter` copies it onto each
record; gunicorn's access line carries it from the response's ``X-Request-ID`` header. Other fields a
caller passes with ``extra={...}`` are kept as JSON members (redacted like the message).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from gunicorn.glogging import Logger as _GunicornBaseLogger

_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization:\s*)(\S+\s+)?\S+"),
    re.compile(r"(?i)((?:password|passwd|secret|token|api[_-]?key|access[_-]?key|signature)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]+"),
    re.compile(r"(?i)(X-Amz-Signature=)[0-9a-f]+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----"),
]


@lru_cache(maxsize=8)
def _path_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str] | None:
    if not prefixes:
        return None
    alternatives = "|".join(re.escape(prefix) for prefix in prefixes)
    # The path segment after the prefix, raw or percent-encoded, up to a query, fragment, quote or space.
    return re.compile(rf"({alternatives})[^\s?#\"'<>]+")


def _redacted_path_prefixes() -> tuple[str, ...]:
    try:
        return tuple(getattr(settings, "LOG_REDACT_PATH_PREFIXES", ()))
    except Exception:  # noqa: BLE001 - settings not configured (a process logging before Django is set up)
        return ()


def redact(text: str) -> str:
    path_pattern = _path_pattern(_redacted_path_prefixes())
    if path_pattern is not None:
        text = path_pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
        else:
            text = pattern.sub("[REDACTED PRIVATE KEY]", text)
    return text


_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("exchange_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled in this thread or task, if any."""
    return _request_id.get()


@contextlib.contextmanager
def request_id_bound(request_id: str) -> Iterator[None]:
    """Log records written inside the block carry ``request_id``."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class RequestContextFilter(logging.Filter):
    """Puts the current request's id on the record (unless the caller gave one). Django logs a 4xx/5xx
    response (``django.request``) after the middleware has returned, with the request in ``extra``: its
    id is taken from there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = getattr(getattr(record, "request", None), "request_id", None) or _request_id.get()
            if request_id is not None:
                record.request_id = request_id
        return True


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not break logging
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return True


#: Attributes every LogRecord has; anything else on a record came from ``extra={...}``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
#: Extras that are internal plumbing, not information (Django's request and server objects).
_SKIPPED_EXTRAS = frozenset({"request", "server_time", "socket"})


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in _SKIPPED_EXTRAS and key not in entry:
                entry[key] = _json_value(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _status_code(status: Any) -> int | str | None:
    try:
        return int(status)
    except (TypeError, ValueError):
        return status


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's logger writing JSON lines like the node's own, with the same redaction on its access
    log (paths, referrers) and its error log ("Error handling request /files/…"). An access line has the
    request's method, path (no query string: it may carry tokens), status, bytes, duration, the client
    as the proxy reported it, and the request id the node returned."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecretsFilter) for f in log.filters):
                log.addFilter(RedactSecretsFilter())
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            fields = {
                "method": atoms.get("m"), "path": atoms.get("U"), "status": _status_code(atoms.get("s")),
                "bytes": atoms.get("B"), "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "remote": atoms.get("h"), "forwarded_for": atoms.get("{x-forwarded-for}i") or None,
                "request_id": atoms.get("{x-request-id}o") or None,
                "user_agent": atoms.get("a"), "referer": atoms.get("f"),
            }
            self.access_log.info("%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields)
        except Exception:  # noqa: BLE001 - as gunicorn's own: a broken access line must not break serving
            import traceback

            self.error(traceback.format_exc())
