"""Signing in to a node run by the tests as a process: its demo accounts (``seed_demo`` writes their
passwords to ``demo_accounts.txt`` in the data dir) and their API tokens, one per user and node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests


class DemoAccounts:
    """Mixin for a node class with ``data_dir``, a ``tokens`` dict and ``api(method, path, **kwargs)``."""

    data_dir: Path
    tokens: dict[str, str]

    def api(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        raise NotImplementedError

    def password(self, username: str) -> str:
        for line in (self.data_dir / "demo_accounts.txt").read_text().splitlines():
            user, _, password = line.partition(" ")
            if user == username:
                return password
        raise KeyError(username)

    def token(self, username: str) -> str:
        """An API token (one per user and node: the token endpoint is rate-limited, as it should be)."""
        if username not in self.tokens:
            response = self.api("POST", "/api/v1/auth/token",
                                json={"username": username, "password": self.password(username)})
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["token"]
        return self.tokens[username]

    def accept_commitment(self, username: str) -> None:
        """The publisher's organisation accepts the node's current content commitment (承诺书), which a
        first submission needs."""
        version = self.api("GET", "/api/v1/commitment").json()["version"]
        response = self.api("POST", "/api/v1/commitment/accept", token=self.token(username), json={"version": version})
        assert response.status_code == 200, response.text
