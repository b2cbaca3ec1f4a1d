"""The admin API tests' in-process stack (portal, admin API and payment API on one database per test):
the provider-credential tests' Stack with admin tokens cached per user, and audit rows by action."""

from __future__ import annotations

import base64
import contextlib

from tests.integration.credentials.support import Stack

NO_PROVIDER = "http://127.0.0.1:9"  # nothing here sends a payment to a provider


class AdminStack(Stack):
    def __init__(self, db_url: str):
        super().__init__(db_url, NO_PROVIDER)
        self._headers = {}

    def admin_headers(self, username: str = "ops", role: str = "admin") -> dict:
        if (username, role) not in self._headers:
            self._headers[(username, role)] = super().admin_headers(username, role)
        return self._headers[(username, role)]

    def as_role(self, role: str):
        """A caller with `role`, named after it ("viewer-user", "admin-user", "super_admin-user")."""
        return lambda method, path, json=None, **kw: self.api(method, path, json, username=f"{role}-user",
                                                               role=role, **kw)

    def client_token(self, creds: dict):
        raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
        return self.client.simulate_post("/api/v1/auth/token",
                                         headers={"Authorization": f"Basic {raw}", "App-ID": creds["app_id"]})


@contextlib.contextmanager
def admin_stack(db_url: str):
    stack = AdminStack(db_url)
    try:
        yield stack
    finally:
        stack.close()
