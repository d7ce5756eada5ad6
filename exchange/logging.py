"""Structured logs: one JSON object per line, with secrets redacted before they leave the process.

Redacted: credentials and tokens in ``key=value`` / ``Authorization:`` form, presigned-URL signatures,
private keys, and the secret part of URL paths listed in ``settings.LOG_REDACT_PATH_PREFIXES`` (the
node-signed download links ``/files/<token>``: whoever reads a log must not be able to download with
it). The filter is on every handler Django configures (``LOGGING``), including runserver's access log
(``django.server``); gunicorn uses :class:`GunicornLogger` (``deploy/gunicorn.conf.py``) for its access
and error logs; nginx has a log format of its own (``deploy/nginx.conf``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from functools import lru_cache

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


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not break logging
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "node", "path", "status", "duration_ms", "job"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's logger with the same redaction on its access log (request lines, referrers, headers)
    and its error log ("Error handling request /files/…")."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecretsFilter) for f in log.filters):
                log.addFilter(RedactSecretsFilter())
