"""The metrics alert rules are evaluated on: one named SQL query each (mospay/sql/alerts.sql) over the
transactions, their events, the webhook outbox and the operator's queue, one row per alert key."""

from __future__ import annotations

from decimal import Decimal

from .db import Database

# What each metric means, in one line (the portal's rule form, docs/operations.md says more).
MEANINGS = {
    "success_rate": "% of the payments that reached a final state in the window that succeeded",
    "provider_errors": "% of provider calls in the window that timed out, failed to connect or got a 5xx",
    "latency_p95_ms": "95th percentile of the provider's answer time (ms) in the window",
    "open_payments": "payments still PENDING or UNKNOWN after the window (seconds)",
    "stuck": "open payments in the operator's queue (the reconciler gave up)",
    "webhook_failing": "client webhook events in retry, or given up in the window, per client",
    "no_traffic": "payments recorded in the window, per active service (0 included)",
    "volume": "payments recorded in the window (count), or the successful amount (amount)",
}


def measure(db: Database, rule: dict, now=None) -> list[dict]:
    """[{service, app_id, value, n}] for the rule's scope at `now` (None: the database's clock). A service
    always splits the keys; the client does for webhook_failing, or is the rule's own when it names one."""
    rows = db.query(f"alert_metric_{rule['metric']}", now=now, window_s=int(rule["window_s"]),
                    service_id=rule["service_id"], client_id=rule["client_id"], app_id=rule.get("app_id"),
                    measure=rule.get("measure"))
    return [{"service": r["service"], "app_id": r["app_id"],
             "value": Decimal(r["value"]) if r["value"] is not None else None, "n": int(r["n"])} for r in rows]


def breaching(rule: dict, row: dict) -> bool:
    """The rule's condition on one key's observation; under min_count observations it never breaches."""
    if row["value"] is None or row["n"] < int(rule["min_count"]) and rule["metric"] != "no_traffic":
        return False
    threshold = Decimal(rule["threshold"])
    return row["value"] < threshold if rule["op"] == "<" else row["value"] > threshold
