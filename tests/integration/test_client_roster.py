"""The client roster: export every client as CSV, import new clients from a CSV (validated first, all
or nothing, credentials shown once) over the admin API and from the portal."""

from __future__ import annotations

import base64
import csv
import io
import re
import secrets

from tests.integration.portal_support import site  # noqa: F401  (fixture)

BOUNDARY = "rosterb0undary"


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_then_export_over_the_admin_api(api):
    tag = secrets.token_hex(3)
    auth = {"Authorization": f"Bearer {api.admin_token}"}
    good = f"company_name,app_id,contact_email\r\nAlpha {tag},alpha{tag},a@example.com\r\nBeta {tag},,\r\n"
    done = api.request("POST", "/api/v1/admin/clients.csv", body=good.encode(),
                       headers={**auth, "Content-Type": "text/csv"})
    assert done.status == 201, done.data
    created = done.json()["created"]
    assert [c["company_name"] for c in created] == [f"Alpha {tag}", f"Beta {tag}"]
    assert created[0]["app_id"] == f"alpha{tag}" and created[1]["api_secret"].startswith("sk_")
    # The new credentials work at once.
    raw = base64.b64encode(f"{created[0]['api_username']}:{created[0]['api_secret']}".encode()).decode()
    token = api.request("POST", "/api/v1/auth/token", headers={"Authorization": f"Basic {raw}",
                                                               "App-ID": created[0]["app_id"]})
    assert token.status == 200
    # One bad row anywhere: nothing is created, every problem is named.
    bad = (f"company_name,app_id,callback_url\r\nGamma {tag},gamma{tag},\r\n  ,zeta{tag},\r\nDelta {tag},alpha{tag},\r\n"
           f"Eps {tag},eps{tag},ftp://x\r\n")
    refused = api.request("POST", "/api/v1/admin/clients.csv", body=bad.encode(),
                          headers={**auth, "Content-Type": "text/csv"})
    assert refused.status == 422, refused.data
    assert [(e["line"], e["field"]) for e in refused.json()["errors"]] == [(3, "company_name"), (4, "app_id"),
                                                                           (5, "callback_url")]
    assert api.db.run("SELECT count(*) AS n FROM clients WHERE app_id = :a", a=f"gamma{tag}")[0]["n"] == 0
    assert api.request("POST", "/api/v1/admin/clients.csv", body=b"name\r\nx\r\n",
                       headers={**auth, "Content-Type": "text/csv"}).status == 400
    exported = api.request("GET", "/api/v1/admin/clients.csv", headers=auth)
    assert exported.status == 200
    rows = {r["app_id"]: r for r in _csv(exported.data.decode())}
    assert rows[f"alpha{tag}"]["contact_email"] == "a@example.com"
    assert "api_secret" not in exported.data.decode() and "sk_" not in exported.data.decode()
    audit = api.db.run("SELECT after FROM audit_log WHERE action = 'client.import' ORDER BY id DESC LIMIT 1")
    assert audit[0]["after"]["count"] == 2 and "sk_" not in str(audit[0]["after"])


def test_import_from_the_portal_shows_the_credentials_once(site):
    ops = site.portal("roster", "admin")
    assert ops.get("/admin/clients").text.count("/admin/client-import") >= 1
    form = ops.get("/admin/client-import")
    assert form.status_code == 200
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\ncompany_name,app_id\r\nZulu Ltd,zulu1\r\n\r\n--{BOUNDARY}--\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    no_token = ops.client.simulate_post("/admin/client-import", body=body, headers=headers,
                                        cookies={"mospay_session": ops.cookie})
    assert no_token.status_code == 403
    done = ops.client.simulate_post(f"/admin/client-import?csrf_token={ops.csrf}", body=body, headers=headers,
                                    cookies={"mospay_session": ops.cookie})
    assert done.status_code == 201, done.text
    secret = re.search(r'<code class="secret">([^<]+)</code>', done.text).group(1)
    link = re.search(r'href="data:text/csv;base64,([^"]+)"', done.text).group(1)
    assert secret in base64.b64decode(link).decode()
    again = ops.client.simulate_post(f"/admin/client-import?csrf_token={ops.csrf}", body=body, headers=headers,
                                     cookies={"mospay_session": ops.cookie})
    assert again.status_code == 422 and "already exists" in again.text
    export = ops.get("/admin/clients.csv")
    assert export.status_code == 200 and "zulu1" in export.text and secret not in export.text
