"""Admin API for batches: every client's batches, their errors and results, the decisions (approve,
reject, pause, resume, cancel) and a client's auto-approval threshold. Audited as the portal's actions."""

from __future__ import annotations

from .. import batches, errors
from .admin import AdminResource, actor_of, page_limit
from .batches import after_param, send_csv, wants_csv
from .common import strict_body


def admin_who(user: dict) -> str:
    return batches.actor_name("admin", user["username"])


class BatchCollection(AdminResource):
    def on_get(self, req, resp):
        self._reader(req)
        items, nxt = batches.page(self._db, None, limit=page_limit(req), after=after_param(req),
                                  status_filter=req.get_param("status"))
        resp.media = {"items": items, "next": nxt}


class BatchItem(AdminResource):
    def on_get(self, req, resp, batch_id):
        self._reader(req)
        resp.media = batches.status(self._db, batch_id, None)


class BatchErrors(AdminResource):
    def on_get(self, req, resp, batch_id):
        self._reader(req)
        rows = list(batches.error_rows(self._db, batch_id, None))
        if wants_csv(req):
            send_csv(resp, f"{batch_id}-errors.csv", batches.csv_stream(("line", "field", "message", "code"), iter(rows)))
        else:
            resp.media = {"batch_id": batch_id, "errors": rows}


class BatchResults(AdminResource):
    def on_get(self, req, resp, batch_id):
        self._reader(req)
        batches.status(self._db, batch_id, None)  # 404 before the first byte
        send_csv(resp, f"{batch_id}-results.csv",
                 batches.csv_stream(batches.RESULT_COLUMNS, batches.result_rows(self._db, batch_id, None)))


class BatchAction(AdminResource):
    """POST approve | reject {"reason"} | pause | resume | cancel."""

    def __init__(self, db, tokens, config, decision: str):
        super().__init__(db, tokens, config)
        self._decision = decision

    def on_post(self, req, resp, batch_id):
        user = self._writer(req)
        allowed = ("reason",)
        data = strict_body(req, self._config, allowed, empty_ok=self._decision != "reject")
        resp.media = batches.decide(self._db, actor_of(req, user), admin_who(user), batch_id, self._decision,
                                    client_id=None, reason=data.get("reason"))


class ClientBatchSettings(AdminResource):
    """GET / PUT {"auto_approve_max": "50000.00" or null}: batches up to this total approve themselves."""

    def on_get(self, req, resp, app_id):
        self._reader(req)
        resp.media = batches.auto_approve(self._db, app_id)

    def on_put(self, req, resp, app_id):
        user = self._writer(req)
        data = strict_body(req, self._config, ("auto_approve_max",))
        resp.media = batches.set_auto_approve(self._db, actor_of(req, user), app_id, data.get("auto_approve_max"))


class ServiceBatchLimits(AdminResource):
    """GET / PUT {"max_in_flight": n or null, "max_per_second": n or null}: batch pressure on a provider."""

    def on_get(self, req, resp, service):
        self._reader(req)
        resp.media = batches.service_limits(self._db, service)

    def on_put(self, req, resp, service):
        user = self._writer(req)
        data = strict_body(req, self._config, ("max_in_flight", "max_per_second"))
        for key, value in data.items():  # JSON says what it means: a number or null (the portal's form sends text)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise errors.InvalidField("must be a whole number or null (no limit)", field=key)
        resp.media = batches.set_service_limits(self._db, actor_of(req, user), service, data)
