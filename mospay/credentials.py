"""Provider credentials: API and subscription keys kept out of function source. A function's plan names
one as `{{credential:name}}` inside any string of its serviceurl, headers or servicepayload; the value is
filled in here, in memory, just before the provider call, and scrubbed from whatever comes back.

Values are stored sealed by MosPay (AES-256-GCM, mospay/sealed.py, bound to their service, client and name)
under a key the database never keeps: MOSPAY_CREDENTIALS_KEY, else HMAC-SHA256(SECRET_KEY, "mospay provider
credentials v1") in hex. So every PostgreSQL stores them, the embedded one included. Values saved before
migration 018 are pgcrypto ciphertext under the same key and still open where pgcrypto is.
Every read goes to the database, so a value set or rotated in one process is used by every process's
next call, without a restart."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

from pg8000.exceptions import DatabaseError

from . import errors, functions, sealed, validators
from .db import Database
from .redact import MASK

log = logging.getLogger("mospay.credentials")
NAME_RE = validators.CREDENTIAL_NAME_RE
REFERENCE_RE = re.compile(r"\{\{credential:([^{}]{0,80})\}\}")
DERIVATION_LABEL = b"mospay provider credentials v1"


def store_key(credentials_key: str | None, secret_key: str) -> str:
    """The credentials key: MOSPAY_CREDENTIALS_KEY, else derived from SECRET_KEY (so a default install
    needs no new key, and a dump alone, without SECRET_KEY, decrypts nothing)."""
    if credentials_key:
        return credentials_key
    return hmac.new(secret_key.encode(), DERIVATION_LABEL, hashlib.sha256).hexdigest()


check_name = validators.credential_name
check_value = validators.credential_value


def _place(service_id: int, client_id: int | None, name: str) -> str:
    """What a sealed value is bound to: copied into another service's, client's or name's row, it does not open."""
    return f"provider_credential:{service_id}:{client_id or '-'}:{name}"


def references(plan: dict) -> set[str]:
    """The credential names a plan refers to (in serviceurl, headers and servicepayload)."""
    found: set[str] = set()
    for part in ("serviceurl", "headers", "servicepayload"):
        _walk(plan.get(part), lambda text: found.update(REFERENCE_RE.findall(text)))
    return found


def fill(plan: dict, values: dict[str, str]) -> dict:
    """A copy of the plan with every reference replaced by its value (names all present in `values`)."""
    def replace(text: str) -> str:
        return REFERENCE_RE.sub(lambda m: values[m.group(1)], text)
    return {**plan, **{part: _map(plan.get(part), replace) for part in ("serviceurl", "headers", "servicepayload")
                       if part in plan}}


def scrub(value, secrets):
    """A copy of a JSON-like value (or text) with every occurrence of a secret replaced by ***: a provider
    that echoes a header back must not get the key into the stored response."""
    secrets = sorted((s for s in secrets if s), key=len, reverse=True)
    if not secrets:
        return value

    def replace(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text
    return _map(value, replace)


def _walk(value, visit, depth: int = 0) -> None:
    if depth > 20:
        return
    if isinstance(value, str):
        visit(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(k, visit, depth + 1)
            _walk(v, visit, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _walk(v, visit, depth + 1)


def _map(value, replace, depth: int = 0):
    if depth > 20:
        return value
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, dict):
        return {replace(k) if isinstance(k, str) else k: _map(v, replace, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_map(v, replace, depth + 1) for v in value]
    return value


class CredentialStore:
    """The sealed table behind the portal page, the admin API and the provider-call path, and the values
    configured outside the database (Config.provider_credentials: MOSPAY_CREDENTIAL__<SERVICE>__<NAME> or
    mospay.toml's [provider_credentials.<service>]), for operators who keep keys in their secret manager.
    A stored value wins over a configured one."""

    def __init__(self, db: Database, key: str, configured: dict | None = None):
        self._db = db
        self._key = key
        self._configured = dict(configured or {})  # (service, name) -> value
        self._pgcrypto = False  # once seen, stays: only values saved before migration 018 need it

    def _legacy_readable(self) -> bool:
        if not self._pgcrypto:
            self._pgcrypto = bool(self._db.one("credentials_available")["ok"])
        return self._pgcrypto

    def list(self, service: str | None = None) -> list[dict]:
        if service is not None:
            functions.check_name(service, "service")
        stored = self._db.query("credentials_list", service=service)
        configured = [{"service": s, "app_id": None, "name": n, "last4": v[-4:], "created_at": None,
                       "updated_at": None, "updated_by": "configuration", "source": "configuration"}
                      for (s, n), v in sorted(self._configured.items()) if service in (None, s)]
        return [{**row, "source": "database"} for row in stored] + configured

    def _target(self, service: str, app_id: str | None) -> tuple[int, int | None]:
        functions.check_name(service, "service")
        row = self._db.one("service_by_name", name=service)
        if row is None:
            raise errors.NotFound("no service with this name", field="service", code="service_not_found")
        if app_id in (None, ""):
            return row["id"], None
        functions.check_app_id(app_id)
        client = self._db.one("client_by_app_id", app_id=app_id)
        if client is None:
            raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
        return row["id"], client["client_id"]

    def get(self, service: str, name: str, app_id: str | None = None) -> dict | None:
        service_id, client_id = self._target(service, app_id)
        return self._db.one("credential_get", service_id=service_id, client_id=client_id, name=check_name(name))

    def set(self, service: str, name: str, value, app_id: str | None = None, updated_by: str | None = None) -> dict:
        """Create or replace (rotate) a value; answers what may be shown: name, last 4, dates."""
        check_name(name)
        value = check_value(value)
        service_id, client_id = self._target(service, app_id)
        box = sealed.seal(self._key, value.encode(), _place(service_id, client_id, name))
        row = self._db.one("credential_upsert", service_id=service_id, client_id=client_id, name=name,
                           sealed=box, last4=value[-4:], updated_by=updated_by)
        return {"service": service, "app_id": app_id or None, **row}

    def delete(self, service: str, name: str, app_id: str | None = None) -> dict:
        service_id, client_id = self._target(service, app_id)
        rows = self._db.query("credential_delete", service_id=service_id, client_id=client_id, name=check_name(name))
        if not rows:
            raise errors.NotFound("no such credential", field="name", code="credential_not_found")
        return {"service": service, "app_id": app_id or None, **rows[0]}

    def resolve(self, service: str, app_id: str | None, names: set[str]) -> dict[str, str]:
        """The values of `names` for this service and client (the client's own first); a name with no
        value, or one that cannot be opened (another key), is simply absent: the caller refuses."""
        wanted = sorted(n for n in names if NAME_RE.fullmatch(n))
        configured = {n: self._configured[(service, n)] for n in wanted if (service, n) in self._configured}
        if not wanted:
            return configured
        opened = {}
        for row in self._db.query("credentials_resolve", service=service, app_id=app_id, names=wanted):
            value = self._legacy(row) if row["legacy"] else self._open(row)
            if value is not None:
                opened[row["name"]] = value
        return {**configured, **opened}

    def _open(self, row: dict) -> str | None:
        try:
            return sealed.unseal(self._key, row["sealed"], _place(row["service_id"], row["client_id"],
                                                                  row["name"])).decode()
        except sealed.Unsealable:
            # The key changed (SECRET_KEY rotated without MOSPAY_CREDENTIALS_KEY set), or the row was
            # copied from elsewhere. The operator must set the value again.
            log.error("provider credential %s cannot be opened with the current key "
                      "(MOSPAY_CREDENTIALS_KEY / SECRET_KEY changed?): set it again", row["name"])
            return None

    def _legacy(self, row: dict) -> str | None:
        """A value saved before migration 018: pgcrypto ciphertext, opened by the database with our key."""
        if not self._legacy_readable():
            log.error("provider credential %s was saved with pgcrypto, which this database lacks: set it again",
                      row["name"])
            return None
        try:
            rows = self._db.query("credentials_resolve_legacy", service_id=row["service_id"],
                                  client_id=row["client_id"], names=[row["name"]], key=self._key)
        except DatabaseError as exc:
            # 39000: "Wrong key or corrupt data": the key changed. The operator must set the value again.
            info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            if info.get("C") != "39000":
                raise
            log.error("provider credential %s cannot be decrypted with the current key "
                      "(MOSPAY_CREDENTIALS_KEY / SECRET_KEY changed?): set it again", row["name"])
            return None
        return rows[0]["value"] if rows else None
