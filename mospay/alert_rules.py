"""Alert rules: what an operator defines (metric, scope, threshold, window, for, repeat, channels), checked
once here for the admin API and the portal alike, stored, changed and deleted with an audit row."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from . import actions, egress, errors, validators
from .audit import Actor, audit
from .db import Database

METRICS = ("success_rate", "provider_errors", "latency_p95_ms", "open_payments", "stuck", "webhook_failing",
           "no_traffic", "volume")
SEVERITIES = ("info", "warning", "critical")
OPS = ("<", ">")
MEASURES = ("count", "amount")
FIELDS = ("name", "metric", "service", "app_id", "op", "threshold", "measure", "window_s", "min_count", "for_s",
          "repeat_s", "severity", "channels", "enabled")
DEFAULT_REPEAT_S = 4 * 3600  # Alertmanager's repeat_interval default
MAX_CHANNELS = 10
_ADDRESS = re.compile(r"[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,63}")
# What each metric measures, in the portal's and the notices' words.
UNITS = {"success_rate": "%", "provider_errors": "%", "latency_p95_ms": " ms", "open_payments": "",
         "stuck": "", "webhook_failing": "", "no_traffic": " payments", "volume": ""}


def _integer(data: dict, key: str, low: int, high: int, default: int | None) -> int:
    value = data.get(key)
    if value is None:
        if default is None:
            raise errors.InvalidField("is required", field=key, code="missing_field")
        return default
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip()):
        value = int(value.strip())  # the portal's form sends text
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidField("must be a whole number", field=key, code="invalid_type")
    if not low <= value <= high:
        raise errors.InvalidField(f"must be between {low} and {high}", field=key)
    return value


def _choice(data: dict, key: str, allowed: tuple, default=None) -> str:
    value = data.get(key)
    value = default if value is None or value == "" else value
    if value is None:
        raise errors.InvalidField(f"is required (one of {', '.join(allowed)})", field=key, code="missing_field")
    if value not in allowed:
        raise errors.InvalidField(f"must be one of {', '.join(allowed)}", field=key)
    return value


def _threshold(data: dict, default=None) -> str:
    value = data.get("threshold")
    value = default if value is None or value == "" else value
    if value is None:
        raise errors.InvalidField("is required", field="threshold", code="missing_field")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or len(str(value)) > 30:
        raise errors.InvalidField("must be a number", field="threshold", code="invalid_type")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise errors.InvalidField("must be a number", field="threshold") from None
    if not number.is_finite() or abs(number) >= Decimal("1e14"):
        raise errors.InvalidField("must be a number below 10^14", field="threshold")
    return str(number.quantize(Decimal("0.0001")))


def check_channel(channel, index: int = 0) -> dict:
    """One channel, normalised: {"type": "webhook", "url"} or {"type": "email", "to": [addresses]}."""
    field = f"channels[{index}]"
    if not isinstance(channel, dict):
        raise errors.InvalidField("must be an object", field=field, code="invalid_type")
    kind = channel.get("type")
    if kind == "webhook":
        if set(channel) != {"type", "url"}:
            raise errors.InvalidField('a webhook channel is {"type": "webhook", "url"}', field=field)
        try:
            url = validators.url(channel, "url", required=True)
        except errors.InvalidField as exc:
            raise errors.InvalidField(exc.message, field=f"{field}.url", code=exc.code) from None
        reason = egress.refusal(url)
        if reason:
            raise errors.InvalidField(f"refused: {reason}", field=f"{field}.url", code="url_refused")
        return {"type": "webhook", "url": url}
    if kind == "email":
        if set(channel) != {"type", "to"}:
            raise errors.InvalidField('an email channel is {"type": "email", "to"}', field=field)
        to = channel["to"]
        to = [to] if isinstance(to, str) else to
        if (not isinstance(to, list) or not 1 <= len(to) <= 10
                or not all(isinstance(a, str) and len(a) <= 254 and _ADDRESS.fullmatch(a) for a in to)):
            raise errors.InvalidField("must be one to ten plain addresses", field=f"{field}.to")
        return {"type": "email", "to": to}
    raise errors.InvalidField("type must be webhook or email", field=f"{field}.type")


def _channels(value) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_CHANNELS:
        raise errors.InvalidField(f"must be a list of at most {MAX_CHANNELS} channels", field="channels")
    return [check_channel(c, i) for i, c in enumerate(value)]


def check(db: Database, data: dict) -> dict:
    """A whole rule, checked and normalised into the columns it is stored in."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise errors.InvalidField(f"is not a rule field (known: {', '.join(FIELDS)})", field=str(unknown[0])[:40],
                                  code="unknown_field")
    metric = _choice(data, "metric", METRICS)
    no_traffic = metric == "no_traffic"
    rule = {
        "name": validators.text(data, "name", max_length=100),
        "metric": metric,
        "op": _choice(data, "op", OPS, "<" if no_traffic else None),
        "threshold": _threshold(data, 1 if no_traffic else None),
        "measure": _choice(data, "measure", MEASURES, "count") if metric == "volume" else None,
        "window_s": _integer(data, "window_s", 10, 604800, None),
        "min_count": _integer(data, "min_count", 0, 1000000, 0),
        "for_s": _integer(data, "for_s", 0, 86400, 0),
        "repeat_s": _integer(data, "repeat_s", 60, 604800, DEFAULT_REPEAT_S),
        "severity": _choice(data, "severity", SEVERITIES),
        "channels": _channels(data.get("channels")),
        "enabled": data.get("enabled", True),
    }
    if metric != "volume" and data.get("measure") not in (None, ""):
        raise errors.InvalidField("applies to the volume metric only", field="measure")
    if not isinstance(rule["enabled"], bool):
        raise errors.InvalidField("must be true or false", field="enabled", code="invalid_type")
    rule["service_id"] = rule["client_id"] = None
    service = validators.text(data, "service", required=False, max_length=64)
    if service:
        rule["service_id"] = actions.service(db, service)["id"]
    app_id = validators.text(data, "app_id", required=False, max_length=64)
    if app_id:
        client = db.one("client_by_app_id", app_id=app_id)
        if client is None:
            raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
        rule["client_id"] = client["client_id"]
    return rule


def view(row: dict, *, reveal: bool = True) -> dict:
    """A rule as the API answers it. reveal=False (viewers, the audit trail): webhook URLs cut to their
    host, since a chat webhook's URL is its credential (anyone holding it can post to the channel)."""
    keys = ("id", "name", "metric", "service", "app_id", "op", "threshold", "measure", "window_s", "min_count",
            "for_s", "repeat_s", "severity", "channels", "enabled", "created_by", "created_at", "updated_at",
            "firing")
    shown = {k: row.get(k) for k in keys}
    if not reveal:
        shown["channels"] = [masked(c) for c in shown["channels"] or []]
    return shown


def masked(channel: dict) -> dict:
    if channel.get("type") != "webhook":
        return channel
    scheme, _, rest = channel["url"].partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return {"type": "webhook", "url": f"{scheme}://{host}/…"}


def rules(db: Database, *, enabled_only: bool = False) -> list[dict]:
    return db.query("alert_rules", id=None, enabled_only=enabled_only)


def rule(db: Database, rule_id) -> dict:
    key = validators.row_id(rule_id)
    rows = db.query("alert_rules", id=key, enabled_only=False) if key is not None else []
    if not rows:
        raise errors.NotFound("no such alert rule", code="alert_rule_not_found")
    return rows[0]


def _stored(rule: dict) -> dict:
    return {**rule, "channels": json.dumps(rule["channels"])}


def create(db: Database, actor: Actor, data: dict) -> dict:
    checked = check(db, data)
    try:
        rule_id = db.one("alert_rule_insert", **_stored(checked), created_by=actor.username)["id"]
    except errors.Conflict:
        raise errors.Conflict("a rule with this name exists", field="name", code="alert_rule_exists") from None
    created = rule(db, rule_id)
    audit(db, actor, "alert_rule.create", "alert_rule", rule_id, None, view(created, reveal=False))
    return created


def update(db: Database, actor: Actor, rule_id, data: dict) -> dict:
    """A partial change (PATCH): the fields given replace the stored ones, then the whole rule is checked."""
    before = rule(db, rule_id)
    merged = {k: before[k] for k in FIELDS if k in before}
    merged["threshold"] = str(before["threshold"])
    merged.update(data)
    if merged.get("metric") != "volume" and "measure" not in data:
        merged.pop("measure", None)
    checked = check(db, {k: v for k, v in merged.items() if v is not None})
    try:
        db.one("alert_rule_update", id=before["id"], **_stored(checked))
    except errors.Conflict:
        raise errors.Conflict("a rule with this name exists", field="name", code="alert_rule_exists") from None
    after = rule(db, before["id"])
    audit(db, actor, "alert_rule.update", "alert_rule", before["id"], view(before, reveal=False),
          view(after, reveal=False))
    return after


def delete(db: Database, actor: Actor, rule_id) -> None:
    """The rule goes, and its alerts and delivery log with it."""
    before = rule(db, rule_id)
    db.query("alert_rule_delete", id=before["id"])
    audit(db, actor, "alert_rule.delete", "alert_rule", before["id"], view(before, reveal=False), None)


def channel(row: dict, index) -> dict:
    """The rule's channel number `index` (0-based, as the API's path names it), or 404."""
    key = validators.row_id(index)
    if key is None or key >= len(row["channels"] or []):
        raise errors.NotFound("the rule has no channel with this number", code="alert_channel_not_found")
    return row["channels"][key]
