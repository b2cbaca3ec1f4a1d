"""Liveness and readiness probes: no authentication, no logging."""

import falcon


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


class Ready:
    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        if self._db.ping():
            resp.media = {"status": "ready"}
        else:
            resp.status = falcon.HTTP_503
            resp.media = {"error": {"code": "database_unavailable", "message": "the database is not reachable"}}
