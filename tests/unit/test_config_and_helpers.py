"""Unit tests for config, redaction, db helpers (no connection), provider body parsing and read_json."""

import io
import os
import ssl
from decimal import Decimal
from pathlib import Path

import pytest
from pg8000.exceptions import DatabaseError, InterfaceError

from mospay import db, errors, provider, redact, sql
from mospay.api.common import read_json
from mospay.config import Config, ConfigError

KEY = "k" * 40


# --- Config ------------------------------------------------------------------------------------

def test_from_env_with_empty_env_gives_defaults():
    config = Config.from_env({})
    assert (config.host, config.port, config.database_url) == ("127.0.0.1", 5000, None)
    assert (config.threads, config.pool_size, config.token_ttl_s) == (16, 20, 3600)
    assert config.max_body_bytes == 64 * 1024


def test_from_env_reads_port_and_keys():
    config = Config.from_env({"MOSPAY_PORT": "8080", "SECRET_KEY": KEY, "JWT_SECRET_KEY": KEY,
                              "DATABASE_URL": "postgresql://u@h/db"})
    assert config.port == 8080 and config.secret_key == KEY and config.database_url == "postgresql://u@h/db"


@pytest.mark.parametrize("env, fragment", [
    ({"MOSPAY_PORT": "abc"}, "MOSPAY_PORT must be a whole number"),
    ({"MOSPAY_PORT": "80.5"}, "MOSPAY_PORT must be a whole number"),
    ({"MOSPAY_PORT": "70000"}, "MOSPAY_PORT must be between 0 and 65535"),
    ({"MOSPAY_PORT": "-1"}, "MOSPAY_PORT must be between 0 and 65535"),
    ({"MOSPAY_THREADS": "0"}, "MOSPAY_THREADS"),
    ({"MOSPAY_THREADS": "32"}, "MOSPAY_POOL_SIZE must be at least MOSPAY_THREADS"),
    ({"MOSPAY_TOKEN_TTL": "10"}, "MOSPAY_TOKEN_TTL"),
    ({"MOSPAY_MAX_BODY_BYTES": "ten"}, "MOSPAY_MAX_BODY_BYTES must be a whole number"),
    ({"MOSPAY_MAX_BODY_BYTES": "100"}, "MOSPAY_MAX_BODY_BYTES"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 bytes"),
    ({"JWT_SECRET_KEY": "x" * 31}, "JWT_SECRET_KEY must be at least 32 bytes"),
    ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL must start with postgresql://"),
    ({"DATABASE_URL": "localhost:5432"}, "DATABASE_URL"),
    ({"MOSPAY_LOG_LEVEL": "LOUD"}, "MOSPAY_LOG_LEVEL"),
])
def test_invalid_settings_raise_config_error_naming_the_variable(env, fragment):
    with pytest.raises(ConfigError) as exc:
        Config.from_env(env)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("name", ["MOSPAY_PORT", "MOSPAY_THREADS", "DATABASE_URL", "SECRET_KEY"])
def test_empty_variable_means_default(name):
    assert Config.from_env({name: ""}) == Config.from_env({})

@pytest.mark.parametrize("name", ["MOSPAY_HOST", "MOSPAY_ADMIN_PASSWORD", "MOSPAY_LOG_LEVEL"])
def test_empty_string_variable_means_default_too(name):
    assert Config.from_env({name: ""}) == Config.from_env({})


def test_with_keys_generates_owner_only_key_file(tmp_path):
    config = Config.from_env({"MOSPAY_DATA_DIR": str(tmp_path)}).with_keys()
    path = tmp_path / "keys"
    assert len(config.secret_key) >= 32 and len(config.jwt_secret_key) >= 32
    assert config.secret_key != config.jwt_secret_key
    assert f"SECRET_KEY={config.secret_key}" in path.read_text()
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600


def test_with_keys_reuses_keys_on_second_call(tmp_path):
    first = Config(data_dir=tmp_path).with_keys()
    second = Config(data_dir=tmp_path).with_keys()
    assert (first.secret_key, first.jwt_secret_key) == (second.secret_key, second.jwt_secret_key)


def test_with_keys_keeps_explicit_keys(tmp_path):
    config = Config(data_dir=tmp_path, secret_key=KEY, jwt_secret_key=KEY).with_keys()
    assert config.secret_key == KEY and not (tmp_path / "keys").exists()


# --- redact ------------------------------------------------------------------------------------

def test_mask_hides_secret_keys_at_any_depth_and_case():
    value = {"Password": "p", "user": "u", "nested": {"TOKEN": "t", "list": [{"Authorization": "a", "x": 1}]},
             "f008": "pw", "pin": ""}
    assert redact.mask(value) == {"Password": "***", "user": "u",
                                  "nested": {"TOKEN": "***", "list": [{"Authorization": "***", "x": 1}]},
                                  "f008": "***", "pin": ""}
    assert value["Password"] == "p"  # a copy, not in place


def test_mask_passes_scalars_through():
    assert redact.mask("secret") == "secret" and redact.mask([1, None]) == [1, None]


# --- db helpers --------------------------------------------------------------------------------

def test_connect_params_tcp_url_with_quoted_password():
    params = db.connect_params("postgresql://u:p%40ss@db.example:5433/mydb")
    assert params["user"] == "u" and params["password"] == "p@ss"
    assert (params["host"], params["port"], params["database"]) == ("db.example", 5433, "mydb")
    assert "ssl_context" not in params and "unix_sock" not in params


def test_connect_params_unix_socket_url():
    params = db.connect_params("postgresql://postgres:@/mospay?host=/tmp/x")
    assert params["unix_sock"] == "/tmp/x/.s.PGSQL.5432"
    assert params["database"] == "mospay" and params["user"] == "postgres"
    assert "password" not in params and "host" not in params


def test_connect_params_sslmode_require_gives_unverified_context():
    context = db.connect_params("postgresql://u@h/db?sslmode=require")["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_NONE


def test_connect_params_rejects_other_schemes_as_a_configuration_fault():
    db.connect_params("postgresql://u@h/db")  # the control: accepted
    with pytest.raises(ConfigError) as raised:
        db.connect_params("mysql://u@h/db")
    assert not isinstance(raised.value, errors.MosPayError)  # never a client-facing error

def test_connect_params_ipv6_loopback_is_a_tcp_host():
    params = db.connect_params("postgresql://u@[::1]:5433/db")
    assert (params.get("host"), params.get("port")) == ("::1", 5433)

def test_connect_params_query_password_is_decoded_once():
    assert db.connect_params("postgresql://u@h/db?password=100%2541")["password"] == "100%41"


def test_load_queries_parses_named_blocks_and_the_prepared_marker(tmp_path):
    (tmp_path / "q.sql").write_text("-- preamble ignored\nSELECT 0;\n-- name: first (prepared)\nSELECT 1\n  FROM t;\n\n"
                                    "--name:  second   \n-- a comment\nSELECT 2;\n", encoding="utf-8")
    queries = sql.load_queries(tmp_path)
    assert {n: (q.text, q.prepared) for n, q in queries.items()} == {
        "first": ("SELECT 1\n  FROM t;", True), "second": ("-- a comment\nSELECT 2;", False)}


def test_load_queries_refuses_a_name_defined_twice(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: same\nSELECT 1\n", encoding="utf-8")
    (tmp_path / "b.sql").write_text("-- name: other\nSELECT 2\n", encoding="utf-8")
    assert set(sql.load_queries(tmp_path)) == {"same", "other"}  # control: distinct names load
    (tmp_path / "b.sql").write_text("-- name: same\nSELECT 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'same' is defined in both a.sql and b.sql"):
        sql.load_queries(tmp_path)


def test_load_queries_refuses_a_misspelt_marker(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: hot (prepard)\nSELECT 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="malformed query header"):
        sql.load_queries(tmp_path)


def test_only_mospay_sql_holds_named_queries():
    """No module keeps a query file of its own: every `-- name:` block is under mospay/sql/."""
    root = Path(sql.__file__).parent.parent
    outside = [p for p in root.rglob("*.sql") if p.parent != sql.SQL_DIR and "-- name:" in p.read_text()]
    assert outside == [] and sql.QUERIES["start_payment"].source == "payments.sql"


def pg_error(state, **info):
    return DatabaseError({"C": state, "M": "dup", "n": "x", **info})


def test_translate_unique_violation_is_conflict():
    err = db.translate(pg_error("23505"))
    assert isinstance(err, errors.Conflict) and err.code == "already_exists"
    assert (err.sqlstate, err.constraint) == ("23505", "x")


def test_translate_raise_exception_is_function_rejected_422():
    err = db.translate(pg_error("P0001", M="insufficient funds"))
    assert (err.status, err.code, err.message) == (422, "function_rejected", "insufficient funds")


@pytest.mark.parametrize("state, cls", [
    ("57P01", errors.ServiceUnavailable), ("08006", errors.ServiceUnavailable), ("40001", errors.ServiceUnavailable),
    ("22P02", errors.InvalidField), ("23514", errors.InvalidField), ("23503", errors.Conflict),
    ("42883", errors.FunctionError),
])
def test_translate_maps_sqlstates(state, cls):
    assert isinstance(db.translate(pg_error(state)), cls)


@pytest.mark.parametrize("exc", [pg_error("42601"), ValueError("x"), DatabaseError("text only")])
def test_translate_returns_unknown_errors_unchanged(exc):
    assert db.translate(exc) is exc


@pytest.mark.parametrize("exc", [InterfaceError("gone"), ConnectionResetError()])
def test_translate_connection_errors_are_service_unavailable(exc):
    assert isinstance(db.translate(exc), errors.ServiceUnavailable)


# --- provider._parse ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw, parsed", [
    (b'{"status": "SUCCESSFUL", "n": 1}', {"status": "SUCCESSFUL", "n": 1}),
    (b"Bad Gateway", "Bad Gateway"),
    (b"", ""),
    (b'{"a": "x\x00y"}', {"a": "xy"}),
    (b'{"a": "x\\u0000y"}', {"a": "xy"}),
    (b'{"a": NaN}', {"a": None}),
    (b"\xff{oops", "\ufffd{oops"),
])
def test_parse_provider_body(raw, parsed):
    assert provider._parse(raw) == parsed


def test_parse_provider_body_over_one_mib_is_not_read():
    assert provider._parse(b"x" * (provider.MAX_RESPONSE_BYTES + 1)) == "<response body over 1 MiB, not read>"


def test_parse_long_text_is_truncated():
    assert len(provider._parse(b"y" * 10_000)) == 4096

def test_parse_keeps_escaped_backslash_followed_by_u0000():
    assert provider._parse(b'{"a": "\\\\u0000"}') == {"a": "\\u0000"}


# --- read_json ---------------------------------------------------------------------------------

class FakeReq:
    def __init__(self, body: bytes, content_type="application/json", content_length="auto"):
        self.content_type = content_type
        self.content_length = len(body) if content_length == "auto" else content_length
        self.bounded_stream = io.BytesIO(body)

    def get_header(self, name):
        return None


@pytest.mark.parametrize("content_type", ["text/plain", None, "", "application/jsonx", "application/xml"])
def test_read_json_wrong_media_type_is_415(content_type):
    with pytest.raises(errors.UnsupportedMediaType) as exc:
        read_json(FakeReq(b"{}", content_type), 1024)
    assert exc.value.status == 415


def test_read_json_accepts_charset_parameter_and_case():
    assert read_json(FakeReq(b'{"a": "b"}', "Application/JSON; charset=utf-8"), 1024) == {"a": "b"}


@pytest.mark.parametrize("content_length", [2000, None])
def test_read_json_too_large_is_413_by_header_or_actual_size(content_length):
    with pytest.raises(errors.PayloadTooLarge) as exc:
        read_json(FakeReq(b'{"a": "' + b"x" * 2000 + b'"}', content_length=content_length), 1024)
    assert exc.value.status == 413


@pytest.mark.parametrize("body", [
    b'{"a": "\xff"}', b'{"a": 1, "a": 2}', b'{"a": {"b": 1, "b": 1}}', b'{"a": NaN}', b'{"a": Infinity}',
    b'{"a": -Infinity}', b"[1, 2]", b'"string"', b"42", b"null", b'{"a": "x\\u0000y"}', b'{"k\\u0000": 1}',
    b"", b"{", b'{"a": 1} trailing', b"[" * 5000 + b"]" * 5000,
])
def test_read_json_malformed_body_is_400(body):
    with pytest.raises(errors.BadRequest) as exc:
        read_json(FakeReq(body), 64 * 1024)
    assert (exc.value.status, exc.value.code) == (400, "malformed_json")


def test_read_json_returns_dict_with_decimal_floats():
    body = read_json(FakeReq(b'{"f004": "1000.00", "n": 1.10, "i": 3, "nested": {"x": [0.1]}}'), 1024)
    assert body == {"f004": "1000.00", "n": Decimal("1.10"), "i": 3, "nested": {"x": [Decimal("0.1")]}}
    assert isinstance(body["n"], Decimal) and str(body["n"]) == "1.10"


def test_every_mospay_error_is_an_error_status_and_a_config_fault_is_none_of_them():
    """Redirects are answers, not raised errors; a configuration fault never becomes a client's error."""
    import importlib
    import pkgutil

    import mospay
    for module in pkgutil.walk_packages(mospay.__path__, "mospay."):
        if not module.name.startswith(("mospay.bench", "mospay.__main__")):
            importlib.import_module(module.name)
    found, pending = [], [errors.MosPayError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    assert len(found) > 10  # the control: the walk reached the modules' own error classes
    assert [c.__qualname__ for c in found if not 400 <= c.status <= 599] == []
    assert not issubclass(ConfigError, errors.MosPayError)
