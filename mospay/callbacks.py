"""Provider callbacks: hints, never verdicts. Each is recorded and deduplicated, matched to its
transactions by service and externalId, and only a status query (the reconciler's) writes a final state."""

from __future__ import annotations

import hashlib
import json
import logging

from . import errors, functions
from .db import Database
from .payments import F010_RE
from .reconciler import Reconciler
from .redact import mask

log = logging.getLogger("mospay.callbacks")
OPEN = ("RECEIVED", "PENDING", "UNKNOWN")


def receive(db: Database, reconciler: Reconciler, service: str, method: str, raw: bytes) -> dict:
    """Record one callback and, if it names an open transaction, confirm it with a status query now."""
    if not functions.NAME_RE.fullmatch(service or "") or not db.query("service_exists", name=service):
        log.warning("callback for unknown service %r ignored", (service or "")[:40])
        raise errors.NotFound("unknown service", code="service_not_found")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=lambda c: None)
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    external_id = None
    if isinstance(body, dict):
        candidate = body.get("externalId") or body.get("referenceId")
        if isinstance(candidate, str) and F010_RE.fullmatch(candidate):
            external_id = candidate
    stored = mask(body) if isinstance(body, dict) else {"raw": raw[:2000].decode("utf-8", "replace")}
    stored = json.dumps(stored, default=str).replace("\\u0000", "")
    row = db.query("record_callback", service=service, method=method, body_hash=hashlib.sha256(raw).hexdigest(),
                   body=stored, external_id=external_id,
                   outcome="received" if external_id else "malformed")[0]
    if external_id is None:
        log.warning("malformed %s callback ignored (no usable externalId)", service)
        raise errors.BadRequest("a callback must be a JSON object with an externalId", code="malformed_callback")
    if not row["first"]:
        return {"received": True, "duplicate": True}

    matches = db.query("callback_matches", service=service, external_id=external_id)
    open_ids = [m["id"] for m in matches if m["status"] in OPEN]
    if not open_ids:
        outcome = "unmatched" if not matches else "already final"
        db.query("set_callback_outcome", id=row["id"], outcome=outcome)
        log.info("%s callback for %s: %s", service, external_id, outcome)
        return {"received": True, "matched": len(matches), "checked": 0}
    counts = reconciler.run_once(ids=open_ids, cause="callback")
    db.query("set_callback_outcome", id=row["id"], outcome=f"checked {counts['checked']}, settled {counts['settled']}")
    return {"received": True, "matched": len(matches), "checked": counts["checked"]}
