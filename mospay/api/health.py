"""Liveness and readiness probes: no authentication, no logging."""

import falcon


class Health:
    """Liveness, answered from memory: the code's version, the schema version start-up found in the
    database (None when the app was not built by a start-up) and the one the code expects. No database
    query, so a slow database never makes a process look dead."""

    def __init__(self, version: str, schema_version: int | None, expected_schema_version: int):
        self._body = {"status": "ok", "version": version, "schema_version": schema_version,
                      "expected_schema_version": expected_schema_version}

    def on_get(self, req, resp):
        resp.media = self._body


class Ready:
    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        if self._db.ping():
            resp.media = {"status": "ready"}
        else:
            resp.status = falcon.HTTP_503
            resp.media = {"error": {"code": "database_unavailable", "message": "the database is not reachable"}}
