"""A database's schema as PostgreSQL's catalogs describe it, to compare an upgraded database with a fresh
install: the same tables, columns, types, defaults, constraints, indexes, triggers and gateway functions.

The generated per-client functions (schema mospay_fn) are data, not schema: they are left out."""

from __future__ import annotations

SCHEMAS = ("public", "mospay", "mospay_fn")

QUERIES = {
    "schemas": """
        SELECT nspname AS name FROM pg_namespace WHERE nspname = ANY (:schemas) ORDER BY 1""",
    "tables": """
        SELECT n.nspname || '.' || c.relname AS name, c.relkind::text AS kind
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY (:schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
         ORDER BY 1""",
    # In attnum order (the order a SELECT * returns), without the numbers: a dropped column leaves a gap.
    "columns": """
        SELECT n.nspname || '.' || c.relname AS table_name, a.attname AS name,
               format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               pg_get_expr(d.adbin, d.adrelid) AS default
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = ANY (:schemas) AND c.relkind IN ('r', 'p', 'v', 'm')
           AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY 1, a.attnum""",
    "constraints": """
        SELECT n.nspname || '.' || c.relname AS table_name, k.conname AS name,
               pg_get_constraintdef(k.oid) AS definition
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY (:schemas)
         ORDER BY 1, 2""",
    "indexes": """
        SELECT n.nspname || '.' || i.relname AS name, pg_get_indexdef(i.oid) AS definition
          FROM pg_index x
          JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_namespace n ON n.oid = i.relnamespace
         WHERE n.nspname = ANY (:schemas)
         ORDER BY 1""",
    "triggers": """
        SELECT c.relname || '.' || t.tgname AS name, pg_get_triggerdef(t.oid) AS definition,
               t.tgenabled::text AS enabled
          FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY (:schemas) AND NOT t.tgisinternal
         ORDER BY 1""",
    "functions": """
        SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name,
               pg_get_functiondef(p.oid) AS definition
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'mospay'
         ORDER BY 1""",
}


def snapshot(db) -> dict[str, list[tuple]]:
    """Every part of the schema as sorted tuples, by kind; `db` is a mospay.db.Database."""
    return {kind: [tuple(row.values()) for row in db.run(sql, schemas=list(SCHEMAS))]
            for kind, sql in QUERIES.items()}


def differences(a: dict, b: dict, names=("upgraded", "fresh")) -> list[str]:
    """Readable lines for what one snapshot has that the other has not (empty when equal)."""
    lines = []
    for kind in QUERIES:
        only_a = [row for row in a[kind] if row not in b[kind]]
        only_b = [row for row in b[kind] if row not in a[kind]]
        lines += [f"{kind}: only in {names[0]}: {row}" for row in only_a]
        lines += [f"{kind}: only in {names[1]}: {row}" for row in only_b]
        if not only_a and not only_b and a[kind] != b[kind]:
            lines.append(f"{kind}: same rows in another order: {names[0]} {a[kind]} / {names[1]} {b[kind]}")
    return lines


def row_counts(db) -> dict[str, int]:
    """Rows per table (public, mospay, mospay_fn) and the number of generated functions in mospay_fn."""
    tables = [r["t"] for r in db.run("SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t "
                                     "FROM pg_tables WHERE schemaname = ANY (:schemas) ORDER BY 1",
                                     schemas=list(SCHEMAS))]
    counts = {t: db.run(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in tables}  # names from the catalog
    counts["functions in mospay_fn"] = db.run(
        "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE nspname = 'mospay_fn'")[0]["n"]
    return counts
