"""Admin API for clients: list and search, read, edit, (de)activate, rotate the API secret or the webhook
secret (each new value shown once), their service assignments and limits. The changes are the portal's
operator actions (mospay/actions.py), audited there; no response carries a stored secret or its hash."""

from __future__ import annotations

import falcon

from .. import actions, client_keys, functions
from .admin import Assignments, Clients
from .admin import AdminResource as _Resource, Roles, page_after, page_limit
from .admin_catalogue import check_types
from .common import strict_body
from .limits import ClientLimits


def client_view(row: dict) -> dict:
    return {"app_id": row["app_id"], "company_name": row["company_name"], "contact_email": row["contact_email"],
            "callback_url": row["callback_url"], "api_username": row["api_username"], "active": row["active"],
            **{k: row[k].isoformat() if row.get(k) else None for k in ("created_at", "updated_at")}}


def assignment_view(app_id: str, row: dict) -> dict:
    names = [functions.request_function_name(app_id, row["service"], r) for r in row["routes"]]
    return {"service": row["service"], "display_name": row["display_name"], "routes": row["routes"],
            "active": row["active"], "created_at": row["created_at"].isoformat(), "functions": names}


def limits_view(app_id: str, row: dict) -> dict:
    return {"app_id": app_id, "rate_limit_per_minute": row["rate_limit_per_minute"],
            **{k: None if row[k] is None else str(row[k])
               for k in ("max_amount_per_transaction", "max_amount_per_day")}}


def _search(req) -> str | None:
    return (req.get_param("q") or "").strip()[:100] or None  # the portal's search box, the same cut


class ClientCollection(Clients, Roles):
    """GET /api/v1/admin/clients?q=: the portal's search, newest first, in keyset pages (POST is admin.Clients)."""

    def on_get(self, req, resp):
        self._reader(req)
        rows, after = actions.clients_page(self._db, _search(req), page_after(req), page_limit(req))
        resp.media = {"items": [client_view(r) for r in rows], "next": after}


class ClientItem(_Resource):
    """GET or PATCH (company_name, contact_email, callback_url; null clears the optional two) one client.
    Active is changed by the deactivate / reactivate actions, not here."""
    EDITABLE = ("company_name", "contact_email", "callback_url")

    def on_get(self, req, resp, app_id):
        self._reader(req)
        resp.media = client_view(actions.client(self._db, app_id))

    def on_patch(self, req, resp, app_id):
        user = self._writer(req)
        row = actions.client(self._db, app_id)
        patch = strict_body(req, self._config, self.EDITABLE)
        if not patch:  # nothing to change: no write, no audit row
            resp.media = client_view(row)
            return
        current = {k: row[k] for k in (*self.EDITABLE, "active")}
        actions.update_client(self._db, self._actor(req, user), app_id, {**current, **patch})
        resp.media = client_view(actions.client(self._db, app_id))


class ClientActivation(_Resource):
    """POST .../deactivate or .../reactivate (routed with suffixes): credentials and tokens are refused
    from the next request on, as when the portal deactivates."""

    def _set(self, req, resp, app_id, active: bool):
        user = self._writer(req)
        actions.set_client_active(self._db, self._actor(req, user), app_id, active)
        resp.media = client_view(actions.client(self._db, app_id))

    def on_post_deactivate(self, req, resp, app_id):
        self._set(req, resp, app_id, False)

    def on_post_reactivate(self, req, resp, app_id):
        self._set(req, resp, app_id, True)


class ClientSecretRotation(_Resource):
    """POST .../rotate-secret {"overlap_s"?}: a new API secret shown this once; the old one and its tokens
    stop at once, or after overlap_s seconds (up to 7 days: the merchant portal's roll)."""

    def on_post(self, req, resp, app_id):
        user = self._writer(req)
        actions.client(self._db, app_id)
        data = strict_body(req, self._config, ("overlap_s",), empty_ok=True)
        check_types(data, {"overlap_s": int})
        resp.media = actions.rotate_credentials(self._db, self._actor(req, user), self._config.secret_key, app_id,
                                                data.get("overlap_s", 0))
        resp.cache_control = ["no-store"]


class ClientSecretGenerations(_Resource):
    """GET .../secrets: the API secret generations (current, in overlap, expired) with their last use."""

    def on_get(self, req, resp, app_id):
        self._reader(req)
        rows = client_keys.generations(self._db, actions.client(self._db, app_id)["id"])
        resp.media = {"items": [generation_view(r) for r in rows], "next": None}


def generation_view(row: dict) -> dict:
    return {"generation": row["generation"], "state": row["state"],
            **{k: row[k].isoformat() if row[k] else None
               for k in ("created_at", "expires_at", "last_used_at")}, "last_used_ip": row["last_used_ip"]}


class ClientWebhookSecretRotation(_Resource):
    """POST .../rotate-webhook-secret {"overlap_s"?}: a new webhook secret shown this once; events are
    signed with the old one too for overlap_s seconds (default a day), as the CLI's rotation does."""

    def on_post(self, req, resp, app_id):
        user = self._writer(req)
        actions.client(self._db, app_id)
        data = strict_body(req, self._config, ("overlap_s",), empty_ok=True)
        check_types(data, {"overlap_s": int})
        resp.media = actions.rotate_webhook_secret(self._db, self._actor(req, user), self._config.secret_key,
                                                   app_id, data.get("overlap_s", 86400))
        resp.cache_control = ["no-store"]


class ClientAssignments(Assignments, Roles):
    """GET the client's assigned services with their routes and request function names (POST, assigning,
    is admin.Assignments)."""

    def on_get(self, req, resp, app_id):
        self._reader(req)
        client = actions.client(self._db, app_id)
        rows = actions.client_assignments(self._db, client["id"])
        resp.media = {"items": [assignment_view(app_id, r) for r in rows], "next": None}


class ClientAssignment(_Resource):
    """DELETE .../services/{service}: unassign, dropping the functions of every route it had."""

    def on_delete(self, req, resp, app_id, service):
        user = self._writer(req)
        actions.client(self._db, app_id)
        actions.unassign_service(self._db, self._actor(req, user), app_id, service)
        resp.status = falcon.HTTP_204


class ClientRoute(_Resource):
    """DELETE .../services/{service}/routes/{route}: one route and its functions; the last one takes the
    assignment with it."""

    def on_delete(self, req, resp, app_id, service, route):
        user = self._writer(req)
        actions.client(self._db, app_id)
        actions.unassign_route(self._db, self._actor(req, user), app_id, service, route)
        resp.status = falcon.HTTP_204


class ClientLimitsView(ClientLimits, Roles):
    """GET .../limits: the client's own limits (null: the default rate / no amount limit); PUT as before."""

    def on_get(self, req, resp, app_id):
        self._reader(req)
        actions.client(self._db, app_id)
        resp.media = limits_view(app_id, self._db.one("client_limits", app_id=app_id))
