"""Provider statements in the portal: upload a statement (a multipart form), the statements so far, and
the exception queue where an operator resolves a discrepancy with a reason or settles from the statement."""

from __future__ import annotations

import falcon

from .. import actions, errors, statements, validators
from ..api.admin_statements import form_file
from .web import EDITORS, actor, form, render, see_other


class Statements:
    """GET: the upload form, recent statements and the open exceptions (?statement= narrows to one).
    POST (admin, super_admin): a multipart form with `service` and `file`."""

    write_roles = EDITORS

    def __init__(self, db, config):
        self._db = db
        self._config = config

    def show(self, req, resp, *, status=falcon.HTTP_200, error=None, result=None):
        chosen = validators.row_id(req.get_param("statement") or "")
        chosen = None if chosen is None else str(chosen)
        if result is not None:
            chosen = str(result["statement_id"])
        render(req, resp, "admin/statements.html", status=status, error=error, result=result,
               services=actions.services(self._db), chosen=chosen,
               statements=statements.statements_page(self._db, None, None, 20),
               exceptions=statements.exceptions_page(self._db, statement_id=chosen, limit=200),
               open_statuses=statements.OPEN, max_mb=self._config.statement_max_bytes // (1024 * 1024))

    def on_get(self, req, resp):
        self.show(req, resp)

    def on_post(self, req, resp):
        try:
            service, stream, filename = self._form(req)
            result, _ = statements.upload(
                self._db, actor(req), service, stream, filename, max_bytes=self._config.statement_max_bytes,
                tolerance=self._config.statement_amount_tolerance, window_s=self._config.statement_date_window_s)
        except (errors.BadRequest, errors.InvalidField, errors.NotFound, errors.PayloadTooLarge,
                errors.UnsupportedMediaType) as exc:
            return self.show(req, resp, status=falcon.code_to_http_status(exc.status), error=exc)
        see_other(resp, f"/admin/statements?statement={result['statement_id']}")

    def _form(self, req):
        """The form's parts in order: `service` comes before `file` (the browser sends them as laid out)."""
        if not (req.content_type or "").startswith("multipart/form-data"):
            raise errors.UnsupportedMediaType("upload the statement with the form")
        service, stream, filename = form_file(req, "")
        if not service:
            raise errors.InvalidField("choose a service", field="service")
        return service, stream, filename


class StatementExceptionAction:
    """POST reason (admin, super_admin): `resolve` closes the exception; `settle` settles the open
    transaction of a status mismatch to the provider's status. 303 back to the queue; 422/409 re-render."""

    write_roles = EDITORS

    def __init__(self, db, config, action: str):
        self._db = db
        self._page = Statements(db, config)
        self._action = statements.settle_from_statement if action == "settle" else statements.resolve_exception

    def on_post(self, req, resp, exception_id):
        data = form(req)
        try:
            row = self._action(self._db, actor(req), exception_id, data.get("reason"))
        except (errors.InvalidField, errors.Conflict) as exc:
            return self._page.show(req, resp, error=exc, status=falcon.HTTP_409 if isinstance(exc, errors.Conflict)
                                   else falcon.HTTP_422)
        see_other(resp, f"/admin/statements?statement={row['statement_id']}#queue")

