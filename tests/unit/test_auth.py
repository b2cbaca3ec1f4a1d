"""Unit tests for mospay.auth: hashing, Basic parsing, tokens and credential generation."""

import base64
import json
import time

import jwt
import pytest

from mospay import auth, functions
from mospay.errors import Unauthorized

KEY = "k" * 48
OTHER_KEY = "o" * 48


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


# --- passwords (bcrypt) and API secrets (HMAC) -------------------------------------------------

@pytest.fixture(scope="module")
def hashed_password():
    return auth.hash_password("correct horse")


def test_bcrypt_hash_checks_the_right_password(hashed_password):
    assert hashed_password.startswith("$2b$12$")  # cost 12: the portal tests sign in with cheaper hashes
    assert auth.check_password("correct horse", hashed_password)


def test_bcrypt_hash_rejects_a_wrong_password(hashed_password):
    assert not auth.check_password("correct horsE", hashed_password)


def test_bcrypt_check_against_garbage_hash_is_false_not_an_error():
    assert auth.check_password("x", "not-a-bcrypt-hash") is False


def test_secret_hash_round_trips_with_the_same_key():
    hashed = auth.hash_secret("sk_abc", KEY)
    assert auth.check_secret("sk_abc", hashed, KEY)


def test_secret_check_fails_with_another_key():
    hashed = auth.hash_secret("sk_abc", KEY)
    assert not auth.check_secret("sk_abc", hashed, OTHER_KEY)


def test_secret_check_fails_for_another_secret():
    assert not auth.check_secret("sk_abd", auth.hash_secret("sk_abc", KEY), KEY)


@pytest.mark.parametrize("stored", [None, ""])
def test_secret_check_fails_when_nothing_is_stored(stored):
    assert not auth.check_secret("sk_abc", stored, KEY)


# --- Basic header parsing ----------------------------------------------------------------------

def test_parse_basic_accepts_a_well_formed_header():
    creds = auth.parse_basic("Basic " + b64("mp_user:sk_sec:ret"))
    assert creds == auth.BasicCredentials("mp_user", "sk_sec:ret")


def test_parse_basic_scheme_is_case_insensitive():
    assert auth.parse_basic("basic " + b64("u:s")).username == "u"


MALFORMED = [
    "",
    "Basic",
    "Basic ",
    "Bearer " + b64("u:s"),
    "Digest " + b64("u:s"),
    "Basic\t" + b64("u:s"),
    "Basic !!!notbase64!!!",
    "Basic " + b64("u:s")[:-1],          # broken padding
    "Basic " + b64("u:s") + "é",          # non-ASCII in the value
    "Basic " + b64("nocolon"),
    "Basic " + b64(":secretonly"),
    "Basic " + b64("useronly:"),
    "Basic " + b64(":"),
    "Basic " + b64(b"\xff\xfe:\xff"),     # not UTF-8
    "Basic " + b64("u:" + "s" * 600),     # too long
]


@pytest.mark.parametrize("header", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_basic_header_is_the_same_unauthorized(header):
    with pytest.raises(Unauthorized) as exc:
        auth.parse_basic(header)
    assert exc.value.message == auth.BAD_CREDENTIALS
    assert exc.value.status == 401


# --- tokens ------------------------------------------------------------------------------------

@pytest.fixture
def tokens():
    return auth.Tokens(KEY, ttl_s=600)


def claims_for(kind="client", **extra):
    now = int(time.time())
    claims = {"iss": auth.ISSUER, "aud": auth.AUDIENCE[kind], "typ": kind, "sub": "appabc", "cv": 1,
              "iat": now, "exp": now + 600}
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("kind", ["client", "admin"])
def test_token_round_trip(tokens, kind):
    claims = tokens.verify(tokens.issue(kind, "appabc", 3), kind)
    assert claims["sub"] == "appabc"
    assert claims["cv"] == 3
    assert claims["typ"] == kind
    assert claims["exp"] - claims["iat"] == 600


def test_tokens_have_unique_ids(tokens):
    a = tokens.verify(tokens.issue("client", "appabc", 1), "client")
    b = tokens.verify(tokens.issue("client", "appabc", 1), "client")
    assert a["jti"] != b["jti"]


def test_hand_built_token_with_the_right_key_is_accepted(tokens):
    assert tokens.verify(jwt.encode(claims_for(), KEY, algorithm="HS256"), "client")["sub"] == "appabc"


def test_alg_none_token_is_rejected(tokens):
    token = jwt.encode(claims_for(), None, algorithm="none")
    assert token.endswith(".")
    with pytest.raises(Unauthorized):
        tokens.verify(token, "client")


def test_hand_made_alg_none_token_with_signature_stripped_is_rejected(tokens):
    good = tokens.issue("client", "appabc", 1)
    _, payload, _ = good.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    with pytest.raises(Unauthorized):
        tokens.verify(f"{header}.{payload}.", "client")


def test_token_signed_with_another_key_is_rejected(tokens):
    other = auth.Tokens(OTHER_KEY, ttl_s=600).issue("client", "appabc", 1)
    with pytest.raises(Unauthorized):
        tokens.verify(other, "client")


def test_token_with_tampered_payload_is_rejected(tokens):
    header, _, signature = tokens.issue("client", "appabc", 1).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims_for(sub="victim")).encode()).decode()
    with pytest.raises(Unauthorized):
        tokens.verify(f"{header}.{forged.rstrip('=')}.{signature}", "client")


def test_admin_token_is_rejected_by_client_verify(tokens):
    with pytest.raises(Unauthorized):
        tokens.verify(tokens.issue("admin", "root", 1), "client")


def test_client_token_is_rejected_by_admin_verify(tokens):
    with pytest.raises(Unauthorized):
        tokens.verify(tokens.issue("client", "appabc", 1), "admin")


def test_client_audience_with_admin_typ_is_rejected(tokens):
    token = jwt.encode(claims_for("client", typ="admin"), KEY, algorithm="HS256")
    with pytest.raises(Unauthorized):
        tokens.verify(token, "client")


def test_expired_token_is_rejected(tokens):
    past = int(time.time()) - 3600
    token = jwt.encode(claims_for(iat=past - 600, exp=past), KEY, algorithm="HS256")
    with pytest.raises(Unauthorized):
        tokens.verify(token, "client")


@pytest.mark.parametrize("missing", ["cv", "exp", "iat", "sub", "iss", "aud", "typ"])
def test_token_missing_a_required_claim_is_rejected(tokens, missing):
    claims = claims_for()
    del claims[missing]
    with pytest.raises(Unauthorized):
        tokens.verify(jwt.encode(claims, KEY, algorithm="HS256"), "client")


@pytest.mark.parametrize("cv", ["1", 1.5, None, [1]])
def test_token_with_non_integer_cv_is_rejected(tokens, cv):
    claims = claims_for()
    claims["cv"] = cv
    with pytest.raises(Unauthorized):
        tokens.verify(jwt.encode(claims, KEY, algorithm="HS256"), "client")


def test_token_from_another_issuer_is_rejected(tokens):
    token = jwt.encode(claims_for(iss="someone-else"), KEY, algorithm="HS256")
    with pytest.raises(Unauthorized):
        tokens.verify(token, "client")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x"])
def test_garbage_token_is_the_same_unauthorized(tokens, garbage):
    with pytest.raises(Unauthorized) as exc:
        tokens.verify(garbage, "client")
    assert exc.value.message == auth.BAD_CREDENTIALS


# --- generated credentials ---------------------------------------------------------------------

def test_new_app_id_is_a_valid_app_id():
    for _ in range(20):
        assert functions.APP_ID_RE.fullmatch(auth.new_app_id())


def test_new_app_ids_differ():
    assert auth.new_app_id() != auth.new_app_id()


def test_new_api_secret_is_long_and_random():
    a, b = auth.new_api_secret(), auth.new_api_secret()
    assert a != b
    assert a.startswith("sk_") and len(a) >= 40


def test_new_api_username_is_random_and_prefixed():
    a, b = auth.new_api_username(), auth.new_api_username()
    assert a != b
    assert a.startswith("mp_") and len(a) == 23
