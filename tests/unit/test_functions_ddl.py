"""Unit tests for mospay.functions: function names, identifier quoting and generated DDL."""

from pathlib import Path

import pytest

from mospay import functions
from mospay.errors import InvalidField


def test_request_function_name_follows_seed_convention():
    assert functions.request_function_name("akaliza", "mtnmomorwa", "collection") == "akaliza_mtnmomorwa_collection"


def test_response_function_name_follows_seed_convention():
    request = functions.request_function_name("akaliza", "mtnmomorwa", "collection")
    assert functions.response_function_name_unchecked(request) == "RESPONSE_akaliza_mtnmomorwa_collection"


def test_app_id_may_mix_case_and_digits():
    assert functions.request_function_name("AppX9", "svc1", "r2") == "AppX9_svc1_r2"


BAD_PARTS = [
    'ab"c', "ab'c", "ab;c", "ab$$c", "ab c", " abc", "abc\n", "ab-c", "ab_c", "ab.c",
    "abé", "ａｂｃ", "аbс",  # accented, fullwidth, Cyrillic look-alikes
    "ab\x00c", "a" * 300, "", None, 123,
]


@pytest.mark.parametrize("bad", BAD_PARTS, ids=repr)
def test_bad_app_id_is_rejected(bad):
    with pytest.raises(InvalidField) as exc:
        functions.request_function_name(bad, "svc", "route")
    assert exc.value.field == "app_id"


@pytest.mark.parametrize("bad", BAD_PARTS + ["Svc", "SVC"], ids=repr)
def test_bad_service_name_is_rejected(bad):
    with pytest.raises(InvalidField) as exc:
        functions.request_function_name("akaliza", bad, "route")
    assert exc.value.field == "service"


@pytest.mark.parametrize("bad", BAD_PARTS + ["Route"], ids=repr)
def test_bad_route_is_rejected(bad):
    with pytest.raises(InvalidField) as exc:
        functions.request_function_name("akaliza", "svc", bad)
    assert exc.value.field == "route"


@pytest.mark.parametrize("app_id", ["ab", "a" * 25])
def test_app_id_length_bounds_are_enforced(app_id):
    with pytest.raises(InvalidField):
        functions.check_app_id(app_id)


@pytest.mark.parametrize("app_id", ["abc", "a" * 24])
def test_app_id_length_bounds_are_inclusive(app_id):
    assert functions.check_app_id(app_id) == app_id


def test_service_name_over_24_chars_is_rejected():
    with pytest.raises(InvalidField):
        functions.check_name("a" * 25, "service")


def test_name_over_63_bytes_is_rejected_not_truncated():
    app_id, service, route = "A" * 24, "s" * 24, "r" * 24
    with pytest.raises(InvalidField) as exc:
        functions.request_function_name(app_id, service, route)
    assert exc.value.field == "route"
    assert "63" in exc.value.message
    with pytest.raises(InvalidField):
        functions.create_function_ddl(app_id, service, route)
    with pytest.raises(InvalidField):
        functions.drop_function_ddl(app_id, service, route)


def test_longest_name_whose_response_function_fits_63_bytes_is_accepted():
    # 24 + 1 + 24 + 1 + 4 = 54 bytes; "RESPONSE_" makes it exactly 63.
    name = functions.request_function_name("A" * 24, "s" * 24, "r" * 4)
    response = functions.response_function_name_unchecked(name)
    assert len(response.encode()) == functions.MAX_IDENTIFIER_BYTES
    assert name == "A" * 24 + "_" + "s" * 24 + "_" + "rrrr"


def test_one_byte_over_the_limit_is_rejected():
    with pytest.raises(InvalidField):
        functions.request_function_name("A" * 24, "s" * 24, "r" * 5)


@pytest.mark.parametrize("name, quoted", [
    ("abc", '"abc"'),
    ('a"b', '"a""b"'),
    ('"', '""""'),
    ('x"; DROP TABLE t; --', '"x""; DROP TABLE t; --"'),
])
def test_quote_ident_wraps_and_doubles_quotes(name, quoted):
    assert functions.quote_ident(name) == quoted


def test_quote_ident_rejects_nul():
    with pytest.raises(InvalidField):
        functions.quote_ident("a\x00b")


def test_quote_literal_doubles_single_quotes_and_rejects_nul():
    assert functions.quote_literal("o'neil") == "'o''neil'"
    with pytest.raises(InvalidField):
        functions.quote_literal("a\x00")


@pytest.fixture
def ddl():
    return functions.create_function_ddl("akaliza", "mtnmomorwa", "collection")


def test_create_ddl_has_request_then_response_then_status_statement(ddl):
    assert len(ddl) == 3
    assert all(s.startswith("CREATE OR REPLACE FUNCTION ") for s in ddl)


def test_request_ddl_uses_quoted_name_in_mospay_fn_with_two_arguments(ddl):
    assert ('CREATE OR REPLACE FUNCTION "mospay_fn"."akaliza_mtnmomorwa_collection"'
            "(unique_id text, data_input jsonb)") in ddl[0]


def test_response_ddl_uses_quoted_name_in_mospay_fn_with_four_arguments(ddl):
    assert ('CREATE OR REPLACE FUNCTION "mospay_fn"."RESPONSE_akaliza_mtnmomorwa_collection"'
            "(unique_id text, data_input jsonb, code integer, data_output jsonb)") in ddl[1]


def test_both_functions_pin_search_path(ddl):
    for statement in ddl:
        assert "SET search_path = pg_catalog, public" in statement
        assert "LANGUAGE plpgsql" in statement


def test_request_ddl_embeds_service_and_route_as_literals(ddl):
    assert "s.name = 'mtnmomorwa'" in ddl[0]
    assert "'/' || 'collection'" in ddl[0]


def test_dollar_quote_is_balanced_in_each_statement(ddl):
    for statement in ddl:
        assert statement.count("$mospay$") == 2


def test_drop_ddl_names_argument_types():
    drops = functions.drop_function_ddl("akaliza", "mtnmomorwa", "collection")
    assert drops == [
        'DROP FUNCTION IF EXISTS "mospay_fn"."akaliza_mtnmomorwa_collection"(text, jsonb)',
        'DROP FUNCTION IF EXISTS "mospay_fn"."RESPONSE_akaliza_mtnmomorwa_collection"'
        "(text, jsonb, integer, jsonb)",
        'DROP FUNCTION IF EXISTS "mospay_fn"."akaliza_mtnmomorwa_collectionStatus"'
        "(text, jsonb, integer, jsonb)",
    ]


def test_status_ddl_uses_the_status_suffix_and_plans_a_get_on_the_reference(ddl):
    assert ('CREATE OR REPLACE FUNCTION "mospay_fn"."akaliza_mtnmomorwa_collectionStatus"'
            "(unique_id text, data_input jsonb, code integer, data_output jsonb)") in ddl[2]
    assert "'method', 'GET'" in ddl[2] and "|| '/' || unique_id" in ddl[2]


def test_mixed_case_app_id_is_kept_exactly_inside_quotes():
    ddl = functions.create_function_ddl("AkaLiza", "svc", "pay")
    assert '"mospay_fn"."AkaLiza_svc_pay"(' in ddl[0]
    assert '"mospay_fn"."RESPONSE_AkaLiza_svc_pay"(' in ddl[1]


# The generated DDL is pinned byte for byte: databases already hold functions made from these templates,
# and the upgrade tests compare schemas, so a change to the text is a change to what clients run (and to
# what an upgraded database looks like), never a clean-up. To change it on purpose, regenerate the files
# with the statements joined by GOLDEN_SEPARATOR and say why in the commit.
GOLDEN = Path(__file__).parent / "golden"
GOLDEN_SEPARATOR = "\n-- ---- next statement ----\n"


def test_route_ddl_is_byte_identical_to_the_pinned_text():
    expected = (GOLDEN / "functions_ddl_route.txt").read_text(encoding="utf-8")
    assert GOLDEN_SEPARATOR.join(functions.create_function_ddl("akaliza", "mtnmomorwa", "collection")) == expected


def test_refund_ddl_is_byte_identical_to_the_pinned_text():
    expected = (GOLDEN / "functions_ddl_refund.txt").read_text(encoding="utf-8")
    assert GOLDEN_SEPARATOR.join(functions.create_refund_function_ddl("akaliza", "mtnmomorwa")) == expected
