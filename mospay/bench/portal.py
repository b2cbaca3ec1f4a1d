"""--big-data, the merchant portal: its pages timed in-process (guard, session lookup, queries and the
template, as a signed-in merchant gets them) on 1,000,000 transactions over 100 clients, and the CSV
export of a client's 100,000 rows checked against the page's totals."""

from __future__ import annotations

import csv
import io
import time
from decimal import Decimal
from urllib.parse import quote

PASSWORD = "bench-password-1"


def extra_clients(tx, n: int) -> list[int]:
    return [r["id"] for r in tx.query("seed_clients", n=n)]


def _signed_in(stack, client_id: int):
    """The app (not served: the TestClient calls it) and a signed-in owner's cookie."""
    import bcrypt
    import falcon.testing

    from mospay.app import create_app
    from mospay.config import Config

    db = stack.db
    config = Config(database_url=stack.db_url, secret_key=stack.keys["SECRET_KEY"],
                    jwt_secret_key=stack.keys["JWT_SECRET_KEY"])
    client = falcon.testing.TestClient(create_app(config, db))
    user = db.one("merchant_user_insert", client_id=client_id, email=f"owner{client_id}@bench.example",
                  role="owner", created_by="bench")
    db.run("UPDATE merchant_users SET password_hash = :h WHERE id = :id", id=user["id"],
           h=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode())
    signed = client.simulate_post("/portal/login", body=f"email={user['email']}&password={PASSWORD}",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    if signed.status_code != 303:
        raise RuntimeError(f"merchant sign-in answered {signed.status_code}")
    return client, {"mospay_portal": signed.cookies["mospay_portal"].value}


def _timed(client, cookies, path: str, runs: int = 7) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        resp = client.simulate_get(path, cookies=cookies)
        times.append((time.perf_counter() - t) * 1000)
        if resp.status_code != 200:
            raise RuntimeError(f"{path} answered {resp.status_code}")
    times.sort()
    return times[len(times) // 2], times[-1]


def measure(stack, big_client: int, small_client: int) -> str:
    """A markdown table of the portal's pages for the client with a tenth of the rows (and one list for an
    ordinary client), then the CSV export of every one of the big client's rows."""
    from mospay import merchant_records, validators

    db = stack.db
    db.query("seed_webhook_log", client_id=big_client, n=7000)
    db.run("VACUUM ANALYZE webhook_events")
    db.run("VACUUM ANALYZE webhook_attempts")
    client, cookies = _signed_in(stack, big_client)
    small, small_cookies = _signed_in(stack, small_client)
    rows = db.run("SELECT count(*) AS n FROM transactions WHERE client_id = :c", c=big_client)[0]["n"]
    every = db.run("SELECT (SELECT count(*) FROM transactions) AS t, (SELECT count(DISTINCT client_id) FROM "
                   "transactions) AS c, (SELECT count(*) FROM api_logs WHERE client_id = :c) AS l", c=big_client)[0]
    deep = db.run("SELECT public_id, f010, created_at, id FROM transactions WHERE client_id = :c "
                  "ORDER BY created_at DESC, id DESC OFFSET :n LIMIT 1", c=big_client, n=rows // 2)[0]
    log_id = db.run("SELECT id FROM api_logs WHERE client_id = :c ORDER BY id DESC LIMIT 1", c=big_client)[0]["id"]
    pages = [("dashboard (`/portal`)", "/portal"),
             ("transactions, first page with totals", "/portal/transactions"),
             ("transactions, FAILED in the last 30 days", "/portal/transactions?status=FAILED&from="
              + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))),
             (f"transactions, page after row {rows // 2:,} (keyset)",
              "/portal/transactions?after=" + quote(validators.cursor_text(deep))),
             ("transactions, RECEIVED (a status it has none of: every row of the client is read)",
              "/portal/transactions?status=RECEIVED"),
             ("transactions, search by f010", f"/portal/transactions?q={deep['f010']}"),
             ("transaction detail", f"/portal/transactions/{deep['public_id']}"),
             ("API logs, first page", "/portal/api-logs"), ("API log detail", f"/portal/api-logs/{log_id}"),
             ("keys", "/portal/keys"), ("webhooks (30-day delivery log)", "/portal/webhooks")]
    lines = ["| merchant portal page | median ms | slowest of 7 ms |", "|---|---:|---:|"]
    for label, path in pages:
        median, worst = _timed(client, cookies, path)
        lines.append(f"| {label} | {median:.1f} | {worst:.1f} |")
    median, worst = _timed(small, small_cookies, "/portal/transactions")
    few = db.run("SELECT count(*) AS n FROM transactions WHERE client_id = :c", c=small_client)[0]["n"]
    lines.append(f"| transactions, first page with totals, a client with {few:,} rows | {median:.1f} | {worst:.1f} |")

    started = time.perf_counter()
    exported = client.simulate_get("/portal/transactions.csv", cookies=cookies).text
    csv_s = time.perf_counter() - started
    read = list(csv.DictReader(io.StringIO(exported)))
    totals = merchant_records.transaction_totals(db, merchant_records.transaction_filters({}, big_client))[0]
    amount = sum(Decimal(r["amount"]) for r in read)
    agree = "equal" if (len(read), amount) == (totals["n"], totals["amount"]) else "DIFFERENT"
    return ("\n".join(lines) + f"\n\nThe merchant portal on {every['t']:,} transactions over {every['c']} clients, "
            f"signed in as an owner of the client holding {rows:,} of them ({every['l']:,} API log rows, 7,000 "
            f"webhook events), each page called in-process "
            f"7 times (session lookup, queries, template). CSV export of all {len(read):,} rows: "
            f"**{csv_s:.1f} s**; its row count and amount sum ({amount:,.2f}) are {agree} to the totals "
            f"the transactions page shows.")
