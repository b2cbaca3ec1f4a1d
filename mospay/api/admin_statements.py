"""Admin API for provider statements: upload (CSV body or a multipart form's file), the per-service column
mapping, statements, and the exception queue (resolve with a reason, or settle from the statement)."""

from __future__ import annotations

import falcon

from .. import errors, reports, statements, validators
from .admin import AdminResource, actor_of
from .admin_records import page_limit, plain, query_params
from .common import read_json, strict_body

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")


def upload_stream(req, max_bytes: int):
    """(byte stream, filename) of the statement in a request: a CSV body, or the `file` part of a
    multipart form (streamed either way, never read whole into memory)."""
    if req.content_length is not None and req.content_length > max_bytes + 64 * 1024:
        raise errors.PayloadTooLarge(f"the statement is larger than {max_bytes} bytes", code="statement_too_large")
    media = (req.content_type or "").split(";")[0].strip().lower()
    if media in CSV_TYPES:
        return req.bounded_stream, req.get_param("filename")
    if media == "multipart/form-data":
        return form_file(req, None)
    raise errors.UnsupportedMediaType("send the statement as text/csv, or as the `file` of a multipart form")


def form_file(req, service: str | None):
    """(stream, filename) of a multipart form's `file` part, or (service, stream, filename) when `service`
    is "" (the portal's form: its `service` part comes first). The stream raises a 400 at its end unless
    the form is complete: a body cut short is not a shorter statement."""
    try:
        parts = iter(req.get_media())
        for part in parts:
            if part.name == "service" and service is not None:
                service = part.get_text()[:64]
            elif part.name == "file":
                name = part.secure_filename if part.filename else None
                stream = _WholeFormStream(part.stream, parts)
                return (stream, name) if service is None else (service, stream, name)
    except falcon.MediaMalformedError:
        raise errors.BadRequest("the multipart form is malformed", code="bad_statement") from None
    raise errors.BadRequest("the form has no `file` part", code="bad_statement")


class _WholeFormStream:
    """A part's stream that, at its end, reads the rest of the form: falcon hands out a part's bytes up to
    the end of the body even when the closing boundary never came."""

    def __init__(self, stream, rest):
        self._stream = stream
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._stream.read(size)
            if not chunk:
                for _ in self._rest:
                    pass
            return chunk
        except falcon.MediaMalformedError:
            raise errors.BadRequest("the multipart form is malformed or cut short", code="bad_statement") from None


def exception_view(row: dict) -> dict:
    return plain({k: row[k] for k in ("id", "statement_id", "kind", "line_no", "transaction_id",
                                      "transaction_status", "detail", "created_at", "resolved_at",
                                      "resolved_by", "resolution")})


class _Statements(AdminResource):

    def _reason(self, req) -> str | None:
        return strict_body(req, self._config, ("reason",)).get("reason")


class ServiceStatements(_Statements):
    """POST a provider statement for a service: 201 and the match counts; the same file again: 200 and the
    same statement."""

    def on_post(self, req, resp, service):
        user = self._writer(req)
        stream, filename = upload_stream(req, self._config.statement_max_bytes)
        answer, created = statements.upload(
            self._db, actor_of(req, user), service, stream, filename,
            max_bytes=self._config.statement_max_bytes, tolerance=self._config.statement_amount_tolerance,
            window_s=self._config.statement_date_window_s)
        resp.media = answer
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200


class StatementFormat(_Statements):
    """GET/PATCH {"columns": {field: header}}: how this service's provider names the statement's columns."""

    def on_get(self, req, resp, service):
        self._reader(req)
        resp.media = statements.statement_format(self._db, service)

    def on_patch(self, req, resp, service):
        user = self._writer(req)
        resp.media = statements.set_statement_format(self._db, actor_of(req, user), service,
                                                     read_json(req, self._config.max_body_bytes))


class StatementCollection(_Statements):
    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, ("after", "limit"))
        limit = page_limit(params)
        before_at, before_id = validators.cursor(params.get("after"))
        rows, following = reports.keyset_page(self._db, "statements_page",
                                              {"before_at": before_at, "before_id": before_id}, limit)
        resp.media = {"items": plain(rows), "next": following}


class StatementItem(_Statements):
    def on_get(self, req, resp, statement_id):
        self._reader(req)
        resp.media = plain(statements.statement(self._db, statement_id))


class ExceptionCollection(_Statements):
    """The exception queue, oldest first: ?statement_id= ?kind= ?state=open|all (default open)."""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, ("statement_id", "kind", "state", "after", "limit"))
        if params.get("state", "open") not in ("open", "all"):
            raise errors.InvalidField("must be open or all", field="state")
        limit = page_limit(params)
        rows = statements.exceptions_page(self._db, statement_id=params.get("statement_id"),
                                          kind=params.get("kind"), include_resolved=params.get("state") == "all",
                                          after=params.get("after"), limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        resp.media = {"items": [exception_view(r) for r in rows], "next": str(rows[-1]["id"]) if more else None}


class ExceptionItem(_Statements):
    def on_get(self, req, resp, exception_id):
        self._reader(req)
        resp.media = exception_view(statements.exception(self._db, exception_id))


class ExceptionResolve(_Statements):
    """POST {"reason"}: close the exception with the operator's reason (audited)."""

    def on_post(self, req, resp, exception_id):
        user = self._writer(req)
        resp.media = exception_view(statements.resolve_exception(self._db, actor_of(req, user), exception_id,
                                                                 self._reason(req)))


class ExceptionSettle(_Statements):
    """POST {"reason"}: settle the open transaction of a status mismatch to the provider's status."""

    def on_post(self, req, resp, exception_id):
        user = self._writer(req)
        resp.media = exception_view(statements.settle_from_statement(self._db, actor_of(req, user),
                                                                     exception_id, self._reason(req)))
