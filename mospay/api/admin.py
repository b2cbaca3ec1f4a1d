"""Management API for operators and scripts: admin token, services, clients, assignments. Every change
writes the same audit row the portal writes for it (mospay/audit.py::audit)."""

from __future__ import annotations

import falcon

from .. import accounts, api_keys, catalogue, errors, security, validators
from ..audit import Actor, audit
from ..auth import BAD_CREDENTIALS, Tokens, parse_basic
from .common import read_json

WRITE_ROLES = ("super_admin", "admin")


def admin_user(req, db, tokens: Tokens, roles=WRITE_ROLES) -> dict:
    """The admin behind a bearer token (still active, same credential version) or an API key (not revoked
    or expired: mospay.api_keys), with one of `roles`. A failure is the one 401, which AuthGuard counts."""
    header = req.get_header("Authorization") or ""
    if header[:7].lower() != "bearer ":
        raise errors.Unauthorized("send Authorization: Bearer <admin token or API key>")
    credential = header[7:].strip()
    if api_keys.is_key(credential):
        if not tokens.api_key_secret:  # a Tokens built without the server key verifies no key
            raise errors.Unauthorized(BAD_CREDENTIALS)
        user = api_keys.authenticate(db, tokens.api_key_secret, credential, req.remote_addr)
    else:
        claims = tokens.verify(credential, "admin")
        user = db.one("user_by_username", username=claims["sub"])
        if user is None or not user["active"] or user["credential_version"] != claims["cv"]:
            raise errors.Unauthorized(BAD_CREDENTIALS)
    if user["role"] not in roles:
        raise errors.Forbidden("your role does not allow this", code="insufficient_role")
    return user


def actor_of(req, user: dict) -> Actor:
    """The admin behind an API call, for the audit trail (the same shape as a portal user's)."""
    return Actor(user["id"], user["username"], user["role"], req.remote_addr)


READ_ROLES = (*WRITE_ROLES, "viewer")


def page_limit(req) -> int:
    """?limit= of a keyset-paged admin list (validators.page_limit)."""
    return validators.page_limit(req.params.get("limit"))


def page_after(req) -> str | None:
    """?after= (the `next` of the previous page), once at most."""
    raw = req.params.get("after")
    if raw is not None and not isinstance(raw, str):
        raise errors.InvalidField("is not a valid page cursor", field="after")
    return raw or None


class Roles:
    """Mixed into every admin API resource: who may read (any role), write (admin, super_admin) or do what
    only a super_admin may."""

    def _reader(self, req) -> dict:
        return admin_user(req, self._db, self._tokens, roles=READ_ROLES)

    def _writer(self, req) -> dict:
        return admin_user(req, self._db, self._tokens)

    def _super(self, req) -> dict:
        return admin_user(req, self._db, self._tokens, roles=("super_admin",))

    @staticmethod
    def _actor(req, user):
        return actor_of(req, user)


class AdminResource(Roles):
    """The admin API resources' base: the database, the token verifier and the config."""

    def __init__(self, db, tokens: Tokens, config):
        self._db = db
        self._tokens = tokens
        self._config = config


class _AdminResource(AdminResource):
    """The first admin resources: also the Basic-credential sign-in, under the failed-authentication throttle."""

    def __init__(self, db, tokens: Tokens, config):
        super().__init__(db, tokens, config)
        self._throttle = security.auth_throttle(config, db)

    def _body(self, req):
        return read_json(req, self._config.max_body_bytes)

    def _authenticate(self, req) -> dict:
        """Basic admin credentials, the attempt reserved before bcrypt runs (the same limits as the portal)."""
        creds = parse_basic(req.get_header("Authorization") or "")
        ip = req.remote_addr or "unknown"
        keys = self._throttle.keys(ip, "admin:" + creds.username[:64])
        req.context.auth_counted = True  # AuthGuard must not count this attempt a second time
        with self._throttle.attempt(keys, kind="admin_auth_failure", ip=ip, username=creds.username,
                                    endpoint=req.path):
            return accounts.authenticate_admin(self._db, creds.username, creds.secret)


class AdminToken(_AdminResource):
    """POST /api/v1/admin/token with Basic admin credentials."""

    def on_post(self, req, resp):
        user = self._authenticate(req)
        if user["must_change_password"]:
            raise errors.Forbidden("change the password first: POST /api/v1/admin/password",
                                   code="password_change_required")
        token = self._tokens.issue("admin", user["username"], user["credential_version"])
        resp.media = {"access_token": token, "token_type": "Bearer", "expires_in": self._tokens.ttl_s}
        resp.cache_control = ["no-store"]


class AdminPassword(_AdminResource):
    """POST /api/v1/admin/password with Basic credentials and {"new_password"}: the way out of must-change."""

    def on_post(self, req, resp):
        user = self._authenticate(req)
        accounts.change_password(self._db, user, self._body(req).get("new_password"))
        resp.status = falcon.HTTP_204


class Services(_AdminResource):
    def on_post(self, req, resp):
        user = admin_user(req, self._db, self._tokens)
        created = catalogue.create_service(self._db, self._body(req), self._config.service_url_allow)
        audit(self._db, actor_of(req, user), "service.create", "service", created["name"], None, created)
        resp.media = created
        resp.status = falcon.HTTP_201


class Clients(_AdminResource):
    def on_post(self, req, resp):
        user = admin_user(req, self._db, self._tokens)
        created = accounts.create_client(self._db, self._config.secret_key, self._body(req))
        audit(self._db, actor_of(req, user), "client.create", "client", created["app_id"], None, created)
        resp.media = created
        resp.status = falcon.HTTP_201
        resp.cache_control = ["no-store"]


class Assignments(_AdminResource):
    def on_post(self, req, resp, app_id):
        user = admin_user(req, self._db, self._tokens)
        result = catalogue.assign_service(self._db, app_id, self._body(req))
        audit(self._db, actor_of(req, user), "client.assign_service", "client", app_id, None, result)
        resp.media = result
        resp.status = falcon.HTTP_201
