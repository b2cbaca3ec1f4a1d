"""Provider credentials: named in a function's plan, filled in just before the provider call, rotated
without a restart, refused safely when missing, and never in function source, a pg_dump, api_logs, the
audit trail, the stored request/response, the logs, the metrics or a portal page."""

from __future__ import annotations

import json
import logging
import secrets
import subprocess

import pytest

from mospay import backup
from mospay.config import Config
from tests.integration.credentials.support import APP_ID, HEADER, SERVICE
from tests.integration.portal_support import KEYS

REFERENCE = "'{{credential:subscription_key}}'"


def planted() -> str:
    return "planted-" + secrets.token_hex(16)


def put_credential(stack, value, name="subscription_key", app_id=None, **kwargs):
    return stack.api("PUT", f"/api/v1/admin/services/{SERVICE}/credentials/{name}",
                     json={"value": value, **({"app_id": app_id} if app_id else {})}, **kwargs)


def pg_dump(url: str) -> str:
    # MosPay's own choice of pg_dump (pgserver's, which is new enough for either database, then PATH).
    target, env = backup.libpq_target(url)
    result = subprocess.run([backup.tool("pg_dump"), "--no-owner", "--inserts", target], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_provider_gets_the_stored_value_and_a_rotation_is_used_by_the_next_payment(stack, make_stack, provider_sim):
    stack.onboard()
    stack.plan_header(REFERENCE)
    first, second = planted(), planted()
    assert put_credential(stack, first).status_code == 201
    f010, resp = stack.pay()
    assert resp.status_code == 200, resp.text
    assert provider_sim.headers(f010)[HEADER] == first

    # Rotated from the portal of another "process" (its own app and pool), no restart of the first.
    other = make_stack()
    portal = other.portal()
    rotated = portal.post("/admin/credentials", {"service": SERVICE, "name": "subscription_key", "value": second})
    assert rotated.status_code == 303, rotated.text
    f010, resp = stack.pay()
    assert resp.status_code == 200 and provider_sim.headers(f010)[HEADER] == second


def test_a_clients_own_value_wins_over_the_services(stack, provider_sim):
    stack.onboard()
    stack.plan_header(REFERENCE)
    shared, own = planted(), planted()
    assert put_credential(stack, shared).status_code == 201
    assert put_credential(stack, own, app_id=APP_ID).status_code == 201
    f010, resp = stack.pay()
    assert resp.status_code == 200 and provider_sim.headers(f010)[HEADER] == own
    assert stack.api("DELETE", f"/api/v1/admin/services/{SERVICE}/credentials/subscription_key",
                     params={"app_id": APP_ID}).status_code == 204
    f010, resp = stack.pay()
    assert resp.status_code == 200 and provider_sim.headers(f010)[HEADER] == shared


def test_an_unknown_credential_fails_the_payment_before_the_provider_is_called(stack, provider_sim):
    stack.onboard()
    stack.plan_header("'{{credential:never_set}}'")
    before = provider_sim.calls["total"]
    f010, resp = stack.pay()
    assert resp.status_code == 402, resp.text
    assert resp.json["status"] == "FAILED" and resp.json["result"]["reason"] == "missing credential"
    assert provider_sim.calls["total"] == before and provider_sim.headers(f010) is None  # nothing was sent
    # Control: the same function without the reference reaches the provider.
    stack.plan_header("'static'")
    f010, resp = stack.pay()
    assert resp.status_code == 200 and provider_sim.calls["total"] == before + 1


def test_a_deleted_credential_fails_the_next_payment_safely(stack, provider_sim):
    stack.onboard()
    stack.plan_header(REFERENCE)
    assert put_credential(stack, planted()).status_code == 201
    assert stack.pay()[1].status_code == 200
    assert stack.api("DELETE", f"/api/v1/admin/services/{SERVICE}/credentials/subscription_key").status_code == 204
    before = provider_sim.calls["total"]
    f010, resp = stack.pay()
    assert resp.json["result"]["reason"] == "missing credential" and provider_sim.calls["total"] == before


def test_a_credential_never_reaches_function_source_a_dump_the_logs_the_audit_or_the_metrics(
        stack, provider_sim, caplog, db_url):
    caplog.set_level(logging.DEBUG)
    stack.onboard()
    value, rotated = planted(), planted()
    # Sent in a header, in the body and in the URL's query, and echoed back by a provider below.
    stack.plan_header(REFERENCE)
    assert put_credential(stack, value).status_code == 201
    outcomes = []
    for msisdn in ("+250788120009", "+250788120001", "+250788120003", "+250788120004"):
        f010, resp = stack.pay(msisdn=msisdn)
        outcomes.append(resp.json["status"])
        assert provider_sim.headers(f010)[HEADER] == value  # control: it really was sent
    assert outcomes == ["SUCCESSFUL", "FAILED", "UNKNOWN", "PENDING"]
    portal = stack.portal()
    assert portal.post("/admin/credentials", {"service": SERVICE, "name": "subscription_key",
                                               "value": rotated}).status_code == 303
    page = portal.get("/admin/credentials").text
    assert "subscription_key" in page and rotated[-4:] in page
    stack.pay()
    stack.parts.reconciler().run_once()
    metrics = stack.client.simulate_get("/metrics").text
    assert "mospay_provider" in metrics  # control: the real exposition, with the provider calls

    functions = "\n".join(r["d"] for r in stack.db.run(
        "SELECT pg_get_functiondef(p.oid) AS d FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prokind IN ('f', 'p')"))
    dump = pg_dump(db_url)
    api_logs = json.dumps(stack.db.run("SELECT * FROM api_logs"), default=str)
    audit = json.dumps(stack.db.run("SELECT * FROM audit_log"), default=str)
    stored = json.dumps(stack.db.run("SELECT * FROM transactions"), default=str)
    assert "{{credential:subscription_key}}" in functions and "subscription_key" in dump  # controls
    assert "credential.set" in audit and "credential.rotate" in audit
    for secret in (value, rotated):
        for where, text in (("function source", functions), ("pg_dump", dump), ("api_logs", api_logs),
                            ("audit_log", audit), ("transactions", stored), ("logs", caplog.text),
                            ("metrics", metrics), ("portal page", page)):
            assert secret not in text, f"a credential value is in the {where}"


def test_a_value_the_provider_echoes_back_is_masked_in_the_stored_response(stack, provider_sim):
    """A provider answering with the key it was sent (some error pages do) must not get it stored."""
    import http.server
    import threading

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"status": "SUCCESSFUL", "echo": self.headers.get(HEADER)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        stack.onboard(url=f"http://127.0.0.1:{server.server_address[1]}")
        stack.plan_header(REFERENCE)
        value = planted()
        assert put_credential(stack, value).status_code == 201
        f010, resp = stack.pay()
        assert resp.status_code == 200, resp.text
        row = stack.db.run("SELECT provider_response FROM transactions WHERE public_id = :t", t=resp.json["transaction_id"])
        text = json.dumps(row, default=str)
        assert value not in text and "***" in text
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_wrong_key_makes_the_stored_values_unusable_not_a_500(stack, make_stack, provider_sim):
    stack.onboard()
    stack.plan_header(REFERENCE)
    assert put_credential(stack, planted()).status_code == 201
    other = make_stack(credentials_key="another-credentials-key-" + "x" * 16)
    other.client_headers = stack.client_headers
    before = provider_sim.calls["total"]
    f010, resp = other.pay()
    assert resp.status_code == 402 and resp.json["result"]["reason"] == "missing credential"
    assert provider_sim.calls["total"] == before


def test_the_stored_value_is_sealed_under_the_documented_key_and_opens_only_in_its_own_row(stack, provider_sim):
    import hashlib
    import hmac

    from mospay import sealed
    value, other = planted(), planted()
    stack.onboard()
    stack.plan_header(REFERENCE)
    assert put_credential(stack, value).status_code == 201
    assert put_credential(stack, other, name="other_key").status_code == 201
    key = hmac.new(KEYS["secret_key"].encode(), b"mospay provider credentials v1", hashlib.sha256).hexdigest()
    row = stack.db.run("SELECT service_id, value_enc, value_sealed, last4 FROM provider_credentials "
                       "WHERE name = 'subscription_key'")[0]
    place = f"provider_credential:{row['service_id']}:-:subscription_key"
    assert sealed.unseal(key, row["value_sealed"], place).decode() == value and row["last4"] == value[-4:]
    assert row["value_enc"] is None and value.encode() not in bytes(row["value_sealed"])
    # Another row's ciphertext copied over this one does not open: the payment fails before the provider.
    stack.db.run("UPDATE provider_credentials SET value_sealed = (SELECT value_sealed FROM provider_credentials "
                 "WHERE name = 'other_key') WHERE name = 'subscription_key'")
    before = provider_sim.calls["total"]
    _, resp = stack.pay()
    assert resp.status_code == 402 and resp.json["result"]["reason"] == "missing credential"
    assert provider_sim.calls["total"] == before


def test_a_value_saved_with_pgcrypto_before_018_still_works_and_saving_it_again_seals_it(pgcrypto_stack, provider_sim):
    """An upgraded database's values are pgcrypto ciphertext (value_enc) under the same key: still used."""
    import hashlib
    import hmac
    stack = pgcrypto_stack
    old, new = planted(), planted()
    stack.onboard()
    stack.plan_header(REFERENCE)
    key = hmac.new(KEYS["secret_key"].encode(), b"mospay provider credentials v1", hashlib.sha256).hexdigest()
    stack.db.run("INSERT INTO provider_credentials (service_id, name, value_enc, last4) "
                 "SELECT id, 'subscription_key', pgp_sym_encrypt(:v, :k, 'cipher-algo=aes256'), right(:v, 4) "
                 "FROM services WHERE name = :s", v=old, k=key, s=SERVICE)
    reference, resp = stack.pay()
    assert resp.status_code == 200 and provider_sim.headers(reference)[HEADER] == old
    assert put_credential(stack, new).status_code == 200  # a rotation of the existing row
    row = stack.db.run("SELECT value_enc, value_sealed FROM provider_credentials")[0]
    assert row["value_enc"] is None and row["value_sealed"] is not None
    reference, resp = stack.pay()
    assert resp.status_code == 200 and provider_sim.headers(reference)[HEADER] == new


def test_credentials_key_shorter_than_32_bytes_is_refused():
    from mospay.config import ConfigError
    with pytest.raises(ConfigError, match="MOSPAY_CREDENTIALS_KEY"):
        Config(**KEYS, credentials_key="short").validate()


def test_the_reconcilers_status_query_gets_the_credential_too(stack):
    """The Status function's plan goes through the same helper: its GET carries the stored value."""
    import http.server
    import threading

    from mospay import functions
    from tests.integration.credentials.support import ROUTE
    seen = []

    class Provider(http.server.BaseHTTPRequestHandler):
        def _answer(self, code, payload):
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(202, {"status": "PENDING"})

        def do_GET(self):  # noqa: N802
            seen.append(self.headers.get(HEADER))
            self._answer(200, {"status": "SUCCESSFUL", "echo": self.headers.get(HEADER)})

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        stack.onboard(url=f"http://127.0.0.1:{server.server_address[1]}")
        status_ddl = functions.create_function_ddl(APP_ID, SERVICE, ROUTE)[2]
        anchor = "'headers', jsonb_build_object('X-Reference-Id', unique_id)"
        assert anchor in status_ddl
        stack.db.run(status_ddl.replace(anchor, anchor[:-1] + f", '{HEADER}', {REFERENCE})"))
        stack.db.run("SELECT mospay.seal_functions()")
        value = planted()
        assert put_credential(stack, value).status_code == 201
        f010, resp = stack.pay()
        assert resp.json["status"] == "PENDING"
        txn = stack.db.run("SELECT id FROM transactions WHERE public_id = :t", t=resp.json["transaction_id"])[0]["id"]
        assert stack.parts.reconciler().run_once(ids=[txn])["settled"] == 1
        assert seen == [value]
        stored = json.dumps([stack.db.run("SELECT * FROM transactions WHERE id = :t", t=txn),
                             stack.db.run("SELECT * FROM transaction_events WHERE transaction_id = :t", t=txn)],
                            default=str)
        assert value not in stored and '"echo": "***"' in stored  # the echoed value, masked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_credential_in_the_url_stays_out_of_the_provider_log_lines(stack, caplog):
    from tests.support import free_port
    caplog.set_level(logging.DEBUG)
    stack.onboard()
    value = planted()
    assert put_credential(stack, value).status_code == 201
    stack.plan_url(f"http://127.0.0.1:{free_port()}/pay?key={{{{credential:subscription_key}}}}")  # nobody listens
    f010, resp = stack.pay()
    assert resp.json["status"] == "UNKNOWN", resp.text  # the connection was attempted, with the value
    lines = [r.getMessage() for r in caplog.records if r.name == "mospay.provider"]
    assert any("{{credential:subscription_key}}" in line for line in lines), lines  # control: the URL is logged
    assert value not in caplog.text


def test_urllib3s_request_lines_with_their_query_strings_stay_out_of_a_debug_log(stack, caplog,
                                                                                 provider_sim):
    caplog.set_level(logging.DEBUG)
    stack.onboard()
    value = planted()
    assert put_credential(stack, value).status_code == 201
    stack.plan_url(provider_sim.url + "/pay?key={{credential:subscription_key}}&x=")
    f010, resp = stack.pay()
    assert resp.status_code == 200, resp.text  # reached the simulator with the key in its query
    assert value not in caplog.text
