"""Helpers shared by the batch tests: a CSV of valid rows for a client, uploads, waiting for a status."""

from __future__ import annotations

import secrets
import time

BEARER_ADMIN = "Authorization"
HEADER = ["f000", "f001", "f002", "f004", "f005", "f006", "f007", "f008", "f009", "f010"]


def batch_payer(gw, service: str = "batchpay", **kw):
    """A fresh client of `service` (created on first use; f007 and f008 secret, as on every service)."""
    return gw.onboard(service=service, **kw)


def rows(client, n: int, *, amount: str = "100.00", msisdn: str = "+250788123456", prefix: str | None = None):
    prefix = prefix or "b" + secrets.token_hex(4)
    return [{"f000": client.service, "f001": "collection", "f002": "collection", "f004": amount, "f005": msisdn,
             "f006": "customer", "f007": "enc-x", "f008": "pwd-x", "f009": "dev1", "f010": f"{prefix}-{i}"}
            for i in range(1, n + 1)]


def to_csv(items: list[dict], sep: str = ",", header=None) -> bytes:
    header = header or HEADER
    lines = [sep.join(header)] + [sep.join(row.get(c, "") for c in header) for row in items]
    return ("\r\n".join(lines) + "\r\n").encode()


def upload(gw, client, body: bytes, *, headers=None, name: str | None = None, content_type="text/csv"):
    path = "/api/v1/batches" + (f"?name={name}" if name else "")
    return gw.request("POST", path, body=body, headers={**client.basic, "Content-Type": content_type,
                                                        **(headers or {})})


def admin_post(gw, path: str, payload=None, token=None):
    return gw.request("POST", path, json=payload if payload is not None else {},
                      headers={"Authorization": f"Bearer {token or gw.admin_token}"})


def admin_get(gw, path: str, token=None, headers=None):
    return gw.request("GET", path, headers={"Authorization": f"Bearer {token or gw.admin_token}", **(headers or {})})


def wait_status(gw, client, batch_id: str, wanted, timeout: float = 30.0) -> dict:
    wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
    deadline = time.monotonic() + timeout
    while True:
        doc = gw.request("GET", f"/api/v1/batches/{batch_id}", headers=client.basic).json()
        if doc["status"] in wanted or time.monotonic() > deadline:
            return doc
        time.sleep(0.2)
