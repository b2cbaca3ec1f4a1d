"""The OpenAPI document matches the real Falcon routes, and /docs renders it without scripts."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import falcon.testing
import pytest

from mospay.api import openapi
from mospay.app import create_app
from mospay.config import Config

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


class _NoDb:
    """create_app only stores the database; nothing here touches it."""
    in_use = 0
    size = 1


@pytest.fixture(scope="module")
def app():
    config = Config(secret_key="s" * 40, jwt_secret_key="j" * 40)
    return create_app(config, _NoDb())


def real_operations(app) -> set[tuple[str, str]]:
    """(uri template, METHOD) for every responder the resources really define (not Falcon's defaults)."""
    found = set()

    def walk(nodes):
        for node in nodes:
            if node.resource is not None:
                for method, responder in node.method_map.items():
                    if method in HTTP_METHODS and getattr(responder, "__self__", None) is node.resource:
                        found.add((node.uri_template, method))
            walk(node.children)

    walk(app._router._roots)
    return found


def test_document_describes_exactly_the_api_v1_routes(app):
    real = {op for op in real_operations(app) if op[0].startswith("/api/v1/")}
    documented = openapi.operations()
    assert documented - real == set(), "documented but not routed"
    assert real - documented == set(), "routed but not documented: add it to mospay/api/openapi.py"


def test_document_is_openapi_3_1_with_resolvable_refs():
    doc = openapi.document()
    assert doc["openapi"].startswith("3.1")
    text = json.dumps(doc)
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', text)):
        assert ref in doc["components"]["schemas"], ref
    for item in doc["paths"].values():
        for op in item.values():
            assert op["responses"], op["summary"]
            for alternative in op.get("security", []):
                assert set(alternative) <= set(doc["components"]["securitySchemes"])
    params = {p: re.findall(r"{(\w+)}", p) for p in doc["paths"]}
    for path, names in params.items():
        for method, op in doc["paths"][path].items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(names), (path, method)


def test_openapi_json_is_served(app):
    client = falcon.testing.TestClient(app)
    resp = client.simulate_get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    assert resp.json == openapi.document()


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text, self.links = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("href", "src") if k in attrs]

    def handle_data(self, data):
        self.text.append(data)


def test_docs_page_lists_every_operation_with_curl_examples_and_no_script(app):
    client = falcon.testing.TestClient(app)
    resp = client.simulate_get("/docs")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "script-src" not in resp.headers["content-security-policy"]
    page = _Page()
    page.feed(resp.text)
    text = "".join(page.text)
    assert "script" not in page.tags
    assert all(link.startswith(("/", "#")) for link in page.links), "no CDN or external links"
    for path, method in openapi.operations():
        assert path in text and method in text
    for _where, _method, op in _all_operations(openapi.document()):
        assert f"operationId: {op['operationId']}" in text or op in _webhook_ops()
    assert "curl -s -X POST http://127.0.0.1:5000/api/v1/auth/token" in text
    assert "/api/v1/payment/process" in text and "curl -s http://127.0.0.1:5000/api/v1/payment/order-1001" in text
    assert "MosPay-Signature" in text and "openssl dgst -sha256 -hmac" in text
    css = client.simulate_get("/docs/docs.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_every_api_operation_documents_429_with_retry_after():
    # The failed-authentication throttle (mospay/api/guard.py) answers 429 on any /api/ path once the
    # caller's address is blocked; schemathesis checks answers against the document, so it must say so.
    doc = openapi.document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            refused = op["responses"].get("429")
            assert refused is not None, (method, path)
            assert refused["headers"]["Retry-After"]["required"] is True, (method, path)


def _webhook_ops() -> list[dict]:
    return [op for item in openapi.document()["webhooks"].values() for op in item.values()]


def _all_operations(doc: dict):
    """(where, METHOD, operation) for every operation: the paths and the webhooks."""
    for group in ("paths", "webhooks"):
        for where, item in doc.get(group, {}).items():
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    yield where, method.upper(), op


def test_every_operation_has_a_unique_camel_case_operation_id():
    # Generated clients name their functions after operationId (without one, after the path, so a
    # renamed path would break merchants' imports): every operation has one, stable and unique.
    seen = {}
    for where, method, op in _all_operations(openapi.document()):
        op_id = op.get("operationId")
        assert op_id is not None, f"{method} {where} has no operationId"
        assert re.fullmatch(r"[a-z][A-Za-z0-9]+", op_id), (method, where, op_id)
        assert op_id not in seen, f"{op_id} is used by {seen[op_id]} and {method} {where}"
        seen[op_id] = f"{method} {where}"


def test_operation_ids_of_the_client_api_stay_as_published():
    # Renaming one of these breaks every generated client's imports.
    ids = {(path, method): op["operationId"] for path, method, op in _all_operations(openapi.document())}
    assert ids[("/api/v1/auth/token", "POST")] == "getToken"
    assert ids[("/api/v1/payment/process", "POST")] == "processPayment"
    assert ids[("/api/v1/payment/{f010}", "GET")] == "getPayment"
    assert ids[("/api/v1/payment/status", "POST")] == "getPaymentStatus"
    assert ids[("/api/v1/admin/token", "POST")] == "getAdminToken"
    assert ids[("/api/v1/admin/clients", "POST")] == "createClient"
    assert ids[("/api/v1/admin/clients/{app_id}/services", "POST")] == "assignService"


def test_paths_from_two_modules_merge_method_by_method():
    paths = openapi._Paths({"/x": {"post": {"operationId": "createX"}, "parameters": []}})
    paths.update({"/x": {"get": {"operationId": "listX"}}, "/y": {"get": {"operationId": "getY"}}})
    assert paths == {"/x": {"post": {"operationId": "createX"}, "get": {"operationId": "listX"}, "parameters": []},
                     "/y": {"get": {"operationId": "getY"}}}
    with pytest.raises(ValueError, match="post described twice"):
        paths.update({"/x": {"post": {"operationId": "createX2"}}})


def _validator(name: str):
    import jsonschema_rs  # schemathesis's validator: what checks the answers in test_schemathesis.py

    doc = openapi.document()
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                               "components": doc["components"]})


def _body(**changes):
    body = {"f000": "mtnmomorwa", "f001": "collection", "f002": "collection", "f003": "demo",
            "f004": "1000.00", "f005": "+250788123456", "f006": "customer123", "f007": "encrypted",
            "f008": "pwd", "f009": "device_abc123", "f010": "order-1001"}
    return {**body, **changes}


@pytest.mark.parametrize("changes, valid", [
    ({}, True),
    ({"f011": "INV-7"}, True),  # a service's extra field: a string next to the standard ones
    ({"f999": ""}, True),
    ({"f011": 7}, False),
    ({"foo": "x"}, False),
    ({"F011": "x"}, False),
    ({"f0111": "x"}, False),
    ({"f010": "."}, False), ({"f010": ".."}, False), ({"f010": "." * 64}, False),
    ({"f010": ".a"}, True), ({"f010": "a.."}, True), ({"f010": "..:"}, True),
    ({"f010": "a" * 65}, False), ({"f010": ""}, False),
])
def test_payment_request_schema_says_what_check_shape_accepts(changes, valid):
    from mospay import errors, payments

    body = _body(**changes)
    assert _validator("PaymentRequest").is_valid(body) is valid
    try:
        payments.check_shape(dict(body))
    except errors.InvalidField:
        accepted = False
    else:
        accepted = True
    assert accepted is valid


def test_payment_request_sends_extra_fields_through_additional_properties():
    # Generators ignore patternProperties (a generated model dropped f011); additionalProperties with the
    # string schema is what they turn into a model's additional properties.
    schema = openapi.document()["components"]["schemas"]["PaymentRequest"]
    assert schema["additionalProperties"]["type"] == "string"
    assert "patternProperties" not in schema
    assert "f011" in schema["description"]


def test_transaction_and_credentials_list_every_key_as_required():
    schemas = openapi.document()["components"]["schemas"]
    assert set(schemas["Transaction"]["required"]) == {
        "transaction_id", "f010", "status", "amount", "msisdn", "route", "service", "result",
        "created_at", "updated_at", "refunded_amount", "refunds"}  # the last two since refunds (schema 12)
    assert set(schemas["Credentials"]["required"]) == {
        "app_id", "company_name", "api_username", "api_secret", "webhook_secret", "active", "created_at"}
    for name in ("Transaction", "Credentials", "RotatedCredentials", "Service", "Assignment", "ClientLimits"):
        assert set(schemas[name]["required"]) <= set(schemas[name]["properties"]), name
