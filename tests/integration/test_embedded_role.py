"""The embedded cluster runs MosPay as a role of its own (not the superuser), also for a data folder made
before it had one: that folder is handed over in place at start."""

from __future__ import annotations

import json

import pytest

from mospay import embedded, errors, function_editor as fe, migrate
from mospay.audit import Actor
from mospay.db import Database
from tests.integration.test_upgrade import FIXTURE
from tests.support import load_sql_file, stop_embedded

pytestmark = pytest.mark.embedded  # its own pgserver cluster (or none), never the suite's database

pytest.importorskip("pgserver")
NAME = "RESPONSE_akaliza_mtnmomorwa_collection"  # a function the v0.1.0 fixture has


def test_an_old_embedded_data_folder_is_handed_to_mospays_own_role(tmp_path):
    pg = embedded.EmbeddedPostgres(tmp_path)
    app_url = pg.start()
    try:
        info = pg._server.get_postmaster_info()

        def superuser(database):
            return info.get_uri(user="postgres", database=database)

        # The data folder as an older MosPay left it: the database and all in it the superuser's.
        cluster = Database(superuser("postgres"), size=1)
        cluster.run(f"ALTER DATABASE {embedded.DATABASE} OWNER TO postgres")
        cluster.close()
        load_sql_file(superuser(embedded.DATABASE), FIXTURE)
        embedded.prepare(superuser)  # what the next start does
        db = Database(app_url, size=2)
        try:
            role = db.run("SELECT current_user AS name, rolsuper, rolcreaterole FROM pg_roles "
                          "WHERE rolname = current_user")[0]
            assert role == {"name": embedded.APP_ROLE, "rolsuper": False, "rolcreaterole": False}
            migrate.apply(db)  # ALTER TABLE ... in the migrations: MosPay's role owns the tables now
            counts = db.run("SELECT count(*) AS n, count(c.oid) AS confined FROM pg_proc p "
                            "LEFT JOIN mospay.confined_functions c ON c.oid = p.oid "
                            "WHERE p.pronamespace = 'mospay_fn'::regnamespace")[0]
            assert counts["n"] > 0 and counts["confined"] == counts["n"]
            args = fe.sample_arguments(NAME, "akaliza", "mtnmomorwa", "collection")
            assert fe.dry_run(db, NAME, args)["result"]["status"] == "SUCCESSFUL"
            fe.save(db, Actor(None, "root", "super_admin"), NAME, fe.definition(db, NAME))
            hostile = (f'CREATE OR REPLACE FUNCTION mospay_fn."{NAME}"(unique_id text, data_input jsonb, '
                       "code integer, data_output jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$ BEGIN "
                       "RETURN (SELECT jsonb_agg(api_secret_hash) FROM clients); END $f$")
            with pytest.raises(errors.InvalidField) as refused:
                fe.dry_run(db, NAME, {**args, "data_input": json.dumps({})}, hostile)
            assert "permission denied for table clients" in refused.value.message
        finally:
            db.close()
        embedded.prepare(superuser)  # a start with everything in place changes nothing
    finally:
        stop_embedded(pg._server)
        pg._server = None
