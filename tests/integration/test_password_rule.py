"""One password rule (mospay.validators.password) on every path that sets a password: portal create, reset
and change, the admin API, the CLI and the configured first admin. A bad password is the same 422 with
the same words everywhere, and changes nothing."""

from __future__ import annotations

import base64
import json

import pytest

from mospay import __main__ as cli, accounts, errors, validators
from mospay.config import Config, ConfigError
from tests.integration.conftest import TEST_KEYS
from tests.integration.portal_support import PASSWORD, Site

RULE = "must be 8-72 characters, at most 72 bytes in UTF-8, with no NUL character"
BAD = {"100 characters": "p" * 100, "37 characters but 74 bytes": "é" * 37, "7 characters": "seven-7",
       "a NUL": "nul\x00password"}
GOOD = "é" * 36  # 72 bytes: bcrypt's limit, and allowed


@pytest.fixture
def fresh_site(db_url):
    site = Site(db_url)
    yield site
    site.db.close()


def test_the_rule_itself():
    assert validators.password(GOOD) == GOOD and validators.password("x" * 72) == "x" * 72  # controls
    for value in [*BAD.values(), "surrogate-\ud800", None, 12345678]:  # a lone surrogate cannot be encoded
        with pytest.raises(errors.InvalidField, match=RULE):
            validators.password(value)


def _state(site, username):
    user = site.db.one("user_by_username", username=username)
    sessions = site.db.run("SELECT count(*) AS n FROM admin_sessions WHERE user_id = :u", u=user["id"])[0]["n"]
    audit = site.db.run("SELECT count(*) AS n FROM audit_log")[0]["n"]
    return user["password_hash"], user["credential_version"], user["must_change_password"], sessions, audit


def test_reset_password_with_100_characters_is_a_422_and_changes_nothing(fresh_site):
    site = fresh_site
    root = site.portal("root", "super_admin")
    other = site.portal("other", "viewer")  # signed in: a real reset would end this session
    user_id = site.db.one("user_by_username", username="other")["id"]
    before = _state(site, "other")
    refused = root.post(f"/admin/users/{user_id}/password", {"password": "p" * 100})
    assert refused.status_code == 422 and RULE in refused.text  # was a probable 500 from bcrypt
    assert _state(site, "other") == before
    assert other.get("/admin").status_code == 200
    accepted = root.post(f"/admin/users/{user_id}/password", {"password": GOOD})  # control
    assert accepted.status_code == 303 and _state(site, "other")[0] != before[0]


@pytest.mark.parametrize("label", sorted(BAD))
def test_every_path_gives_the_same_answer(fresh_site, db_url, monkeypatch, capsys, label):
    site, bad = fresh_site, BAD[label]
    root = site.portal("root", "super_admin")
    created = root.post("/admin/users", {"username": "newbie", "role": "viewer", "password": bad})
    assert created.status_code == 422 and RULE in created.text
    assert site.db.one("user_by_username", username="newbie") is None

    user_id = site.db.one("user_by_username", username="root")["id"]
    own = root.post("/admin/password", {"current_password": PASSWORD, "new_password": bad, "confirm_password": bad})
    assert own.status_code == 422 and RULE in own.text
    reset = root.post(f"/admin/users/{user_id}/password", {"password": bad})
    assert reset.status_code == 422 and RULE in reset.text

    basic = base64.b64encode(f"root:{PASSWORD}".encode()).decode()
    api = site.portal().client.simulate_post("/api/v1/admin/password", json={"new_password": bad},
                                             headers={"Authorization": f"Basic {basic}"})
    if "\x00" in bad:  # refused earlier, in any JSON body, before any field rule
        assert api.status_code == 400
    else:
        assert api.status_code == 422
        assert api.json["error"] == {"code": "invalid_field", "message": RULE, "field": "new_password"}

    with pytest.raises(errors.InvalidField, match=RULE):
        accounts.create_admin(site.db, {"username": "direct", "password": bad})

    monkeypatch.setenv("DATABASE_URL", db_url)
    for key, value in TEST_KEYS.items():
        monkeypatch.setenv(key, value)
    if "\x00" not in bad:  # an argv cannot carry NUL
        assert cli.main(["create-admin", "bycli", "--password", bad]) == 1
        assert json.loads(capsys.readouterr().err)["error"] == {"code": "invalid_field", "message": RULE,
                                                                 "field": "password"}
    with pytest.raises(ConfigError, match=f"MOSPAY_ADMIN_PASSWORD {RULE}"):
        Config(admin_password=bad, secret_key=TEST_KEYS["SECRET_KEY"],
               jwt_secret_key=TEST_KEYS["JWT_SECRET_KEY"]).validate()
    assert site.db.run("SELECT username FROM users ORDER BY username") == [{"username": "admin"},
                                                                           {"username": "root"}]


def test_a_72_byte_password_is_accepted_on_every_path(fresh_site, db_url, monkeypatch, capsys):
    site = fresh_site
    root = site.portal("root", "super_admin")
    assert root.post("/admin/users", {"username": "newbie", "role": "viewer", "password": GOOD}).status_code == 303
    monkeypatch.setenv("DATABASE_URL", db_url)
    for key, value in TEST_KEYS.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["create-admin", "bycli", "--password", GOOD]) == 0, capsys.readouterr().err
    basic = base64.b64encode(f"root:{PASSWORD}".encode()).decode()
    api = site.portal().client.simulate_post("/api/v1/admin/password", json={"new_password": GOOD},
                                             headers={"Authorization": f"Basic {basic}"})
    assert api.status_code == 204
    Config(admin_password=GOOD, secret_key=TEST_KEYS["SECRET_KEY"],
           jwt_secret_key=TEST_KEYS["JWT_SECRET_KEY"]).validate()
