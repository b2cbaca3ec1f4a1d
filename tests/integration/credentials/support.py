"""An in-process MosPay (portal, admin API and payment API on one database) for the provider-credential
and service-URL tests; their fixtures are in conftest.py."""

from __future__ import annotations

import base64
import secrets

import falcon.testing

from mospay import accounts, catalogue, functions
from mospay.app import create_app
from mospay.components import Components
from mospay.config import Config
from mospay.db import Database
from tests.integration.portal_support import KEYS, PASSWORD, Portal, password_hash
from tests.support import provider_reference

APP_ID, SERVICE, ROUTE = "CredShop1", "credpay", "collection"
HEADER = "Ocp-Apim-Subscription-Key"


class Stack:
    def __init__(self, db_url: str, sim_url: str, **settings):
        self.db = Database(db_url, size=4)
        self.config = Config(database_url=db_url, **KEYS, **settings)
        self.parts = Components.build(self.config, self.db)
        self.app = create_app(self.config, self.db, parts=self.parts)
        self.client = falcon.testing.TestClient(self.app)
        self.sim_url = sim_url
        self._token = None
        self.client_headers = None

    # People
    def user(self, username: str, role: str = "admin") -> str:
        if self.db.one("user_by_username", username=username) is None:
            self.db.one("insert_user", username=username, password_hash=password_hash(), role=role, must_change=False)
        return username

    def portal(self, username: str = "boss", role: str = "super_admin") -> Portal:
        portal = Portal(self.app)
        self.user(username, role)
        assert portal.login(username).status_code == 303
        return portal

    def admin_headers(self, username: str = "ops", role: str = "admin") -> dict:
        self.user(username, role)
        raw = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
        resp = self.client.simulate_post("/api/v1/admin/token", headers={"Authorization": f"Basic {raw}"})
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json['access_token']}"}

    def api(self, method: str, path: str, json=None, username: str = "ops", role: str = "admin", **kwargs):
        return self.client.simulate_request(method, path, json=json, headers=self.admin_headers(username, role),
                                            **kwargs)

    # The catalogue and payments
    def onboard(self, service: str = SERVICE, app_id: str = APP_ID, url: str | None = None) -> None:
        if self.db.one("service_by_name", name=service) is None:
            catalogue.create_service(self.db, {"name": service, "service_url": url or self.sim_url, "timeout_s": 2})
        creds = accounts.create_client(self.db, KEYS["secret_key"], {"company_name": "Shop", "app_id": app_id})
        catalogue.assign_service(self.db, app_id, {"service": service, "routes": [ROUTE]})
        raw = base64.b64encode(f"{creds['api_username']}:{creds['api_secret']}".encode()).decode()
        self.client_headers = {"Authorization": f"Basic {raw}", "App-ID": app_id}

    def plan_header(self, value_sql: str, app_id: str = APP_ID, service: str = SERVICE) -> None:
        """Rewrite the request function so its plan also sends HEADER with `value_sql` (an SQL expression)."""
        ddl = functions.create_function_ddl(app_id, service, ROUTE)[0]
        anchor = "'X-Reference-Id', unique_id,"
        assert anchor in ddl
        self.db.run(ddl.replace(anchor, f"{anchor} {functions.quote_literal(HEADER)}, {value_sql},"))
        self.db.run("SELECT mospay.seal_functions()")  # as MosPay's own saves do: it runs as mospay_function

    def plan_url(self, url: str, app_id: str = APP_ID, service: str = SERVICE) -> None:
        """Rewrite the request function so it calls `url` whatever the service URL says."""
        ddl = functions.create_function_ddl(app_id, service, ROUTE)[0]
        anchor = "rtrim(svc.service_url, '/') || '/' || "
        assert anchor in ddl
        self.db.run(ddl.replace(anchor, f"{functions.quote_literal(url)} || '/' || "))
        self.db.run("SELECT mospay.seal_functions()")

    def pay(self, f010: str | None = None, msisdn: str = "+250788120009", app_id: str = APP_ID,
            service: str = SERVICE):
        f010 = f010 or "cr" + secrets.token_hex(6)
        body = {"f000": service, "f001": "collection", "f002": ROUTE, "f003": app_id, "f004": "500.00",
                "f005": msisdn, "f006": "customer1", "f007": "e", "f008": "p", "f009": "d", "f010": f010}
        resp = self.client.simulate_post("/api/v1/payment/process", json=body, headers=self.client_headers)
        # What the provider saw of this payment is keyed by the reference it was sent, not the f010.
        return provider_reference(resp.json["transaction_id"]) if "transaction_id" in resp.json else f010, resp

    def audit(self, action: str) -> list[dict]:
        return self.db.run("SELECT username, action, target_type, target_id, before, after FROM audit_log "
                           "WHERE action = :a ORDER BY id", a=action)

    def close(self) -> None:
        self.db.close()
