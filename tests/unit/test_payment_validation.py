"""Unit tests for the pure parts of mospay.payments: shape checks, field validation, masking, auth."""

import pytest

from mospay import auth, errors, payments
from mospay.auth import BasicCredentials
from mospay.payments import ClientCredentials

KEYS = ("code", "label", "type", "required", "max_length", "pattern", "secret")
FIELDS = [dict(zip(KEYS, row)) for row in payments.STANDARD_FIELDS]
SECRET_KEY = "s" * 48


def valid_body(**changes):
    body = {"f000": "mtnmomorwa", "f001": "Collection", "f002": "collection", "f003": "akaliza",
            "f004": "1000.00", "f005": "+250788123456", "f006": "alice", "f007": "enc-pw",
            "f008": "pw", "f009": "device-1", "f010": "txn-0001"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_standard_fields_cover_f000_to_f010_with_f007_f008_secret():
    assert [f["code"] for f in FIELDS] == [f"f{i:03d}" for i in range(11)]
    assert {f["code"] for f in FIELDS if f["secret"]} == {"f007", "f008"}


# --- check_shape -------------------------------------------------------------------------------

def test_check_shape_accepts_a_valid_body():
    body = valid_body()
    assert payments.check_shape(body) is body


@pytest.mark.parametrize("key", ["amount", "F000", "f0000", "f00", "fabc", " f000", "f000 "])
def test_check_shape_rejects_unknown_keys(key):
    with pytest.raises(errors.InvalidField) as exc:
        payments.check_shape({**valid_body(), key: "x"})
    assert exc.value.code == "unknown_field"


def test_check_shape_truncates_a_huge_unknown_key_in_the_error():
    with pytest.raises(errors.InvalidField) as exc:
        payments.check_shape({"k" * 5000: "x"})
    assert len(exc.value.field) == 40


@pytest.mark.parametrize("value", [1000, 10.5, ["1"], {"a": "b"}, None, True, False])
def test_check_shape_rejects_non_string_values(value):
    with pytest.raises(errors.InvalidField) as exc:
        payments.check_shape(valid_body(f004=None) | {"f004": value})
    assert exc.value.code == "invalid_type"
    assert exc.value.field == "f004"


@pytest.mark.parametrize("code", ["f000", "f002", "f003", "f010"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_check_shape_requires_routing_fields(code, how):
    body = valid_body()
    if how == "absent":
        del body[code]
    else:
        body[code] = ""
    with pytest.raises(errors.InvalidField) as exc:
        payments.check_shape(body)
    assert exc.value.code == "missing_field"
    assert exc.value.field == code


@pytest.mark.parametrize("f000", ["MTN", "mtn-momo", "a" * 25, "mtn momo", "mtné", "x;drop"])
def test_check_shape_bad_service_name_is_not_found(f000):
    with pytest.raises(errors.NotFound) as exc:
        payments.check_shape(valid_body(f000=f000))
    assert exc.value.code == "service_not_found"
    assert exc.value.status == 404


@pytest.mark.parametrize("f002", ["Collection", "col-lection", "a" * 25, "col lection"])
def test_check_shape_rejects_bad_route(f002):
    with pytest.raises(errors.InvalidField) as exc:
        payments.check_shape(valid_body(f002=f002))
    assert exc.value.field == "f002"


@pytest.mark.parametrize("f010", ["a" * 65, "has space", "semi;colon", "quote'", "é", "a\x00b", "a/b"])
def test_check_shape_rejects_bad_unique_id(f010):
    with pytest.raises(errors.InvalidField) as exc:
        payments.check_shape(valid_body(f010=f010))
    assert exc.value.field == "f010"


@pytest.mark.parametrize("f010", ["a", "A-b_c.d:e", "9" * 64, "a.", ".a", "..a", "..:", "._"])
def test_check_shape_accepts_good_unique_ids(f010):
    payments.check_shape(valid_body(f010=f010))


@pytest.mark.parametrize("f010", [".", "..", "...", "." * 64])
def test_check_shape_refuses_an_f010_of_only_dots(f010):
    # HTTP clients remove "." and ".." path segments: GET /api/v1/payment/{f010} could never find it.
    with pytest.raises(errors.InvalidField) as exc:
        payments.check_shape(valid_body(f010=f010))
    assert exc.value.field == "f010" and "dots" in exc.value.message


# --- validate_fields ---------------------------------------------------------------------------

def test_validate_fields_accepts_a_valid_body():
    assert payments.validate_fields(valid_body(), FIELDS) is None


@pytest.mark.parametrize("amount", ["1000.00", "1", "0.5", "0.01", "999999999999999.99"])
def test_valid_amounts_pass(amount):
    payments.validate_fields(valid_body(f004=amount), FIELDS)


@pytest.mark.parametrize("amount", ["1.234", "-5", "0", "0.00", "1e5", "10^20", "100000000000000000000",
                                    " 1", "1 ", "", "1,000", "1.", ".5", "+5", "NaN", "Infinity", "٣"])
def test_invalid_amounts_are_rejected_on_f004(amount):
    with pytest.raises(errors.InvalidField) as exc:
        payments.validate_fields(valid_body(f004=amount), FIELDS)
    assert exc.value.field == "f004"


@pytest.mark.parametrize("msisdn", ["+250788123456", "250788123456", "1234567"])
def test_valid_phone_numbers_pass(msisdn):
    payments.validate_fields(valid_body(f005=msisdn), FIELDS)


@pytest.mark.parametrize("msisdn", ["abc", "+0123", "+1234", "+250 788 123456", "+2507881234567890",
                                    "++250788123456"])
def test_invalid_phone_numbers_are_rejected_on_f005(msisdn):
    with pytest.raises(errors.InvalidField) as exc:
        payments.validate_fields(valid_body(f005=msisdn), FIELDS)
    assert exc.value.field == "f005"


@pytest.mark.parametrize("code, limit", [("f001", 64), ("f006", 64), ("f008", 256), ("f009", 128)])
def test_value_over_max_length_is_rejected(code, limit):
    payments.validate_fields(valid_body(**{code: "x" * limit}), FIELDS)
    with pytest.raises(errors.InvalidField) as exc:
        payments.validate_fields(valid_body(**{code: "x" * (limit + 1)}), FIELDS)
    assert exc.value.field == code
    assert str(limit) in exc.value.message


@pytest.mark.parametrize("code, value", [("f003", "aka-liza"), ("f000", "MTN"), ("f010", "a b")])
def test_pattern_mismatch_is_rejected(code, value):
    with pytest.raises(errors.InvalidField) as exc:
        payments.validate_fields(valid_body(**{code: value}), FIELDS)
    assert exc.value.field == code


def test_field_not_defined_for_the_service_is_rejected():
    with pytest.raises(errors.InvalidField) as exc:
        payments.validate_fields(valid_body() | {"f011": "x"}, FIELDS)
    assert exc.value.code == "unknown_field"


def test_missing_required_field_is_rejected():
    with pytest.raises(errors.InvalidField) as exc:
        payments.validate_fields(valid_body(f006=None), FIELDS)
    assert (exc.value.field, exc.value.code) == ("f006", "missing_field")


def test_optional_field_may_be_empty():
    fields = [dict(f, required=False) if f["code"] == "f009" else f for f in FIELDS]
    payments.validate_fields(valid_body(f009=""), fields)


@pytest.mark.parametrize("value, ok", [("42", True), ("-7", True), ("4.2", False), ("x", False)])
def test_integer_type_is_checked(value, ok):
    fields = FIELDS + [dict(zip(KEYS, ("f011", "Count", "integer", True, None, None, False)))]
    body = valid_body() | {"f011": value}
    if ok:
        payments.validate_fields(body, fields)
    else:
        with pytest.raises(errors.InvalidField):
            payments.validate_fields(body, fields)


# --- masking and hashing -----------------------------------------------------------------------

def test_masked_request_replaces_secret_fields():
    masked = payments.masked_request(valid_body(), FIELDS)
    assert masked["f007"] == "***" and masked["f008"] == "***"
    assert {k: v for k, v in masked.items() if k not in ("f007", "f008")} == \
        {k: v for k, v in valid_body().items() if k not in ("f007", "f008")}


def test_masked_request_does_not_modify_the_body():
    body = valid_body()
    payments.masked_request(body, FIELDS)
    assert body["f008"] == "pw"


def test_request_hash_ignores_secret_fields():
    a = payments.request_hash(payments.masked_request(valid_body(), FIELDS), FIELDS)
    b = payments.request_hash(payments.masked_request(valid_body(f007="other", f008="other"), FIELDS), FIELDS)
    assert a == b
    assert payments.request_hash(valid_body(f008="x"), FIELDS) == payments.request_hash(valid_body(f008="y"), FIELDS)


def test_request_hash_changes_with_the_amount():
    a = payments.request_hash(payments.masked_request(valid_body(), FIELDS), FIELDS)
    b = payments.request_hash(payments.masked_request(valid_body(f004="1000.01"), FIELDS), FIELDS)
    assert a != b


def test_request_hash_does_not_depend_on_key_order():
    body = valid_body()
    reversed_body = dict(reversed(list(body.items())))
    assert payments.request_hash(body, FIELDS) == payments.request_hash(reversed_body, FIELDS)


# --- authenticate ------------------------------------------------------------------------------

def client_row(**changes):
    row = {"client_id": 7, "app_id": "akaliza", "client_active": True, "api_username": "mp_user",
           "api_secret_hash": auth.hash_secret("sk_right", SECRET_KEY), "credential_version": 2}
    row.update(changes)
    return row


BASIC_OK = ClientCredentials("akaliza", basic=BasicCredentials("mp_user", "sk_right"))


def test_authenticate_accepts_correct_basic_credentials():
    row = client_row()
    assert payments.authenticate(row, BASIC_OK, SECRET_KEY) is row


def test_authenticate_accepts_the_current_token_version():
    assert payments.authenticate(client_row(), ClientCredentials("akaliza", token_version=2), SECRET_KEY)


@pytest.mark.parametrize("row, creds", [
    (None, BASIC_OK),
    (client_row(client_active=False), BASIC_OK),
    (client_row(), ClientCredentials("akaliza", basic=BasicCredentials("mp_user", "sk_wrong"))),
    (client_row(), ClientCredentials("akaliza", basic=BasicCredentials("mp_other", "sk_right"))),
    (client_row(api_secret_hash=None), BASIC_OK),
    (client_row(), ClientCredentials("akaliza", token_version=1)),
    (client_row(), ClientCredentials("akaliza")),
], ids=["no-row", "inactive", "wrong-secret", "wrong-username", "no-hash", "old-token-version", "no-creds"])
def test_authenticate_failures_are_the_same_unauthorized(row, creds):
    with pytest.raises(errors.Unauthorized) as exc:
        payments.authenticate(row, creds, SECRET_KEY)
    assert exc.value.message == auth.BAD_CREDENTIALS


def test_authenticate_rejects_secret_hashed_with_another_key():
    with pytest.raises(errors.Unauthorized):
        payments.authenticate(client_row(), BASIC_OK, "x" * 48)
