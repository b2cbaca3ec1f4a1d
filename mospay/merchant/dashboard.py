"""The merchant dashboard (/portal): the client's own figures, charts, open payments and recent ones."""

from __future__ import annotations

from .web import render


class Dashboard:
    actions = {"GET": "read"}

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        render(req, resp, "merchant/dashboard.html")
