"""What the pre-review reads and what it says: the content under review and its findings.

``PrereviewContent`` is a frozen snapshot of one version of a resource — its current state, or a revision
somebody proposes — so the same checks serve a submission, a revision and a re-check. ``Finding`` is one
thing the machine noticed, with a stable ``code`` (the reason code reviewers, the API and the audit log
use), a ``severity`` (``hard`` blocks approval, ``soft`` informs) and the ``field`` it concerns.

Pure Python without Django.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from typing import Any

HARD = "hard"
SOFT = "soft"
SEVERITIES = (HARD, SOFT)
#: Bumped whenever the checks change in a way that makes an earlier run's findings stale.
RULES_VERSION = 1
METADATA_KEYS = ("stage", "subject", "grade", "edition", "volume", "chapter", "section", "resource_type",
                 "language", "textbook_id")
RIGHTS_KEYS = ("holder", "license", "year", "price", "territory", "audience", "attribution", "derived_from",
               "term_end", "embargo_until")


@dataclass(frozen=True)
class FileRef:
    """One file of the content: its bytes are the blob ``storage_key`` (content-addressed by sha256)."""

    sha256: str
    name: str
    mime: str
    size: int
    storage_key: str
    available: bool = True  # False: a remote file not fetched to this node


@dataclass(frozen=True)
class PrereviewContent:
    resource_id: str
    revision_id: int | None
    origin: str
    title: str
    description: str
    keywords: tuple[str, ...]
    metadata: dict[str, Any]
    rights: dict[str, Any]
    files: tuple[FileRef, ...]
    publisher_id: int | None = None

    def digest(self) -> str:
        """A hash of everything the checks read (ids aside): equal digests, equal findings for one list."""
        body = {"title": self.title, "description": self.description, "keywords": list(self.keywords),
                "metadata": {k: self.metadata.get(k) or "" for k in METADATA_KEYS},
                "rights": {k: _plain(self.rights.get(k)) for k in RIGHTS_KEYS},
                "files": [[f.sha256, f.name, f.mime, f.size, f.available] for f in self.files],
                "rules": RULES_VERSION}
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, bool, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    field: str
    message_zh: str
    message_en: str
    detail: dict[str, Any] = dataclass_field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self, language: str | None) -> str:
        return self.message_en if (language or "").startswith("en") else self.message_zh
