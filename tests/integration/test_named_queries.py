"""Named queries on a real server: every query marked `(prepared)` prepares, prepared statements are reused
per connection (the reconciler's too), and a transaction opened with rollback=True never commits."""

from __future__ import annotations

import pytest

from mospay import accounts, catalogue, db as dbmod, errors, sql
from mospay.reconciler import Reconciler

MARKED = sorted(name for name, query in sql.QUERIES.items() if query.prepared)


def test_the_hot_paths_are_marked_for_preparation():
    for name in ("start_payment", "finish_payment", "claim_checks", "plan_checks", "record_check",
                 "claim_webhooks", "session_touch", "user_by_username"):
        assert name in MARKED, name
    assert "transactions_page" not in MARKED  # a filtered list: a fresh plan per run beats a generic one


@pytest.mark.parametrize("name", MARKED)
def test_every_marked_query_prepares_on_a_real_connection(db, name):
    """pg8000 sends no parameter types: the server must infer each one from the text, or Parse fails."""
    with db.connection() as conn:
        statement = conn.prepare(sql.QUERIES[name].text)
        statement.close()


def test_an_untyped_parameter_is_what_the_preparation_test_catches(db):
    with db.connection() as conn:
        conn.prepare("SELECT 1 WHERE CAST(:x AS text) IS NULL").close()  # control: a CAST types it
        with pytest.raises(Exception, match="could not determine data type"):
            conn.prepare("SELECT 1 WHERE :x IS NULL")


def _prepared_statements(database) -> list[str]:
    return [r["statement"] for r in database.run("SELECT statement FROM pg_prepared_statements")]


def test_named_queries_are_prepared_once_per_connection(db_url):
    database = dbmod.Database(db_url, size=1)
    try:
        for _ in range(3):
            assert database.one("client_by_app_id", app_id="nobody") is None
        assert database.query("clients_page", q=None, limit=1, offset=0) == []  # not marked: not prepared
        expected = sql.QUERIES["client_by_app_id"].text.replace(":app_id", "$1")
        assert _prepared_statements(database) == [expected]
    finally:
        database.close()


def test_the_reconciler_runs_prepared_statements(db_url):
    database = dbmod.Database(db_url, size=1)
    try:
        assert _prepared_statements(database) == []
        assert Reconciler(database, provider=None).run_once() == {"checked": 0, "settled": 0, "stuck": 0}
        assert any("mospay.claim_checks(" in s for s in _prepared_statements(database))
    finally:
        database.close()


def test_a_prepared_statement_survives_a_schema_change_under_it(db_url, monkeypatch):
    monkeypatch.setitem(sql.QUERIES, "probe", sql.Query("probe", "SELECT * FROM prepared_probe", True, "test"))
    database = dbmod.Database(db_url, size=1)
    try:
        database.run("CREATE TABLE prepared_probe (a integer)")
        database.run("INSERT INTO prepared_probe VALUES (1)")
        assert database.query("probe") == [{"a": 1}]
        database.run("ALTER TABLE prepared_probe ADD COLUMN b text DEFAULT 'x'")
        assert database.query("probe") == [{"a": 1, "b": "x"}]  # re-run, not "cached plan must not change"
    finally:
        database.close()


def test_a_rollback_transaction_leaves_nothing_even_when_it_succeeds(db):
    db.run("CREATE TABLE rehearsal (a integer)")
    with db.transaction() as tx:  # control: the ordinary transaction commits
        tx.run("INSERT INTO rehearsal VALUES (1)")
    with db.transaction(rollback=True) as tx:
        tx.run("INSERT INTO rehearsal VALUES (2)")
        assert [r["a"] for r in tx.run("SELECT a FROM rehearsal ORDER BY a")] == [1, 2]  # visible inside
    assert [r["a"] for r in db.run("SELECT a FROM rehearsal")] == [1]
    with pytest.raises(errors.InvalidField):
        with db.transaction(rollback=True) as tx:
            tx.run("INSERT INTO rehearsal VALUES (3)")
            raise errors.InvalidField("stop")
    assert [r["a"] for r in db.run("SELECT a FROM rehearsal")] == [1]


def test_operator_sql_reports_the_servers_message_as_a_field_error(db):
    with pytest.raises(errors.InvalidField) as caught:
        with db.transaction(rollback=True) as tx, tx.operator_sql(field="source"):
            tx.run_verbatim("SELECT nosuch_function(1)")
    assert (caught.value.field, caught.value.code, caught.value.status) == ("source", "sql_error", 422)
    assert "nosuch_function(integer) does not exist" in caught.value.message
    assert db.run("SELECT 1 AS ok") == [{"ok": 1}]  # the pooled connection is usable again


_STUCK_AS_ONE_OR = """
SELECT t.public_id FROM transactions t
 WHERE t.status IN ('PENDING', 'UNKNOWN') OR (t.status = 'RECEIVED' AND t.updated_at < now() - interval '5 minutes')
 ORDER BY t.updated_at LIMIT 20"""


def test_dashboard_stuck_lists_what_the_plain_or_would(db):
    """The dashboard's stuck panel merges one index range per status; it must pick the rows that the
    straightforward `WHERE ... OR ...` picks, in the same order."""
    accounts.create_client(db, "k" * 32, {"app_id": "shop", "company_name": "Shop"})
    catalogue.create_service(db, {"name": "svc", "service_url": "http://127.0.0.1:9"})
    ids = db.run("SELECT c.id AS client_id, s.id AS service_id FROM clients c, services s")[0]
    statuses = ["PENDING"] * 12 + ["UNKNOWN"] * 12 + ["RECEIVED"] * 12 + ["SUCCESSFUL"] * 12 + ["FAILED"] * 4
    with db.transaction() as tx:
        tx.run("SET LOCAL session_replication_role = replica")  # rows as they would be, without the triggers
        for n, status in enumerate(statuses):
            fresh = status == "RECEIVED" and n % 3 == 0  # in flight for under 5 minutes: not stuck
            age_s = 10 + n if fresh else 600 + (n * 719) % 3000  # distinct ages: no ties in the order
            tx.run("INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request,"
                   " request_hash, status, created_at, updated_at) VALUES (:client_id, :service_id, 'r', :f010,"
                   " 1, '+250788000000', '{}', 'h', :status, now() - make_interval(secs => :age),"
                   " now() - make_interval(secs => :age))", f010=f"t{n}", status=status, age=age_s, **ids)
    expected = [r["public_id"] for r in db.run(_STUCK_AS_ONE_OR)]
    assert len(expected) == 20  # more open rows than the panel shows: each status's own LIMIT matters
    assert [r["public_id"] for r in db.query("dashboard_stuck")] == expected
    db.run("DELETE FROM transactions WHERE status IN ('PENDING', 'UNKNOWN') AND f010 NOT IN ('t0', 't12')")
    expected = [r["public_id"] for r in db.run(_STUCK_AS_ONE_OR)]
    assert len(expected) == 10  # fewer than 20 left: the fresh RECEIVED rows would show if not filtered
    assert [r["public_id"] for r in db.query("dashboard_stuck")] == expected
