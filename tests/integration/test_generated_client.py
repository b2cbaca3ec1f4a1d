"""A client generated from the served /api/v1/openapi.json with openapi-python-client, as a merchant or an
operator would make one, runs the README session (token, payment with an extra field, lookup) and the
admin tasks (list clients, create one, assign a service, find a stuck transaction, resolve it) against a
real `python run.py` over loopback HTTP. Imports name operations by operationId: a renamed path that
broke them would fail here."""

from __future__ import annotations

import base64
import enum
import importlib
import json
import re
import secrets
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from mospay import actions
from mospay.audit import Actor

PACKAGE = "mospay_client"
# No formatter runs after generation (ruff or black would be looked for, and nothing needs them).
CONFIG = f"project_name_override: mospay-client\npackage_name_override: {PACKAGE}\npost_hooks: []\n"
GENERATE_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def generated(gateway, tmp_path_factory):
    """The package generated from the document the server serves, importable for this module's tests;
    its folder is removed and its modules forgotten afterwards."""
    cli = Path(sys.executable).with_name("openapi-python-client")
    assert cli.exists(), "openapi-python-client is in requirements-dev.txt: pip install -r requirements-dev.txt"
    work = tmp_path_factory.mktemp("generated")
    served = gateway.request("GET", "/api/v1/openapi.json")
    assert served.status == 200
    (work / "openapi.json").write_bytes(served.data)
    (work / "config.yaml").write_text(CONFIG)
    done = subprocess.run([str(cli), "generate", "--path", str(work / "openapi.json"), "--output-path",
                           str(work / "out"), "--config", str(work / "config.yaml")],
                          capture_output=True, text=True, timeout=GENERATE_TIMEOUT_S, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    # Anything the generator could not turn into code it reports as a warning: none is expected but one. A
    # provider statement is uploaded as the CSV file itself (text/csv), which generators cannot express as a
    # typed call; scripts send it with curl (README, "Provider statements"). Any other warning fails.
    output = done.stdout + done.stderr
    expected = ("WARNING parsing POST /api/v1/admin/services/{service}/statements within admin. Endpoint will "
                "not be generated.", "Unsupported content type text/csv")
    # Likewise the other text/csv bodies: a batch upload (its JSON form is generated) and the client import.
    csv_bodies = ("WARNING parsing POST /api/v1/batches within client.",
                  "WARNING parsing POST /api/v1/admin/clients.csv within admin.")
    unexpected = [line for line in output.splitlines() if "WARNING" in line.upper() and expected[0] not in line
                  and not line.startswith(csv_bodies) and "Warning(s) encountered while generating" not in line]
    assert not unexpected and all(part in output for part in expected) or "Warning" not in output, output
    sys.path.insert(0, str(work / "out"))
    try:
        yield importlib.import_module(PACKAGE), json.loads(served.data)
    finally:
        sys.path.remove(str(work / "out"))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        _remove(work)


def _remove(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    folder.rmdir()


def _basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


@pytest.fixture
def connect(generated, gateway):
    """Generated clients on the server (keyword arguments: Client's; token=...: an AuthenticatedClient's),
    closed at the end of the test: an open keep-alive connection would hold up the server's shutdown."""
    pkg, _doc = generated
    opened = []

    def connect(**kwargs):
        kind = pkg.AuthenticatedClient if "token" in kwargs else pkg.Client
        opened.append(kind(base_url=gateway.url, raise_on_unexpected_status=True, **kwargs))
        return opened[-1]

    yield connect
    for client in opened:
        client.get_httpx_client().close()


def _admin(connect):
    """An AuthenticatedClient with the token the admin's Basic credentials get."""
    from mospay_client.api.admin import get_admin_token

    token = get_admin_token.sync(client=connect(headers={"Authorization": _basic("ops", "ops-password-1")}))
    assert token is not None and token.token_type == "Bearer"
    return connect(token=token.access_token)


def _onboard(admin, gateway, service: str):
    """A service (with an extra required field f011), a client and the assignment, all through the
    generated client except the field definition, which the admin API does not offer."""
    from mospay_client.api.admin import assign_service, create_client, create_service
    from mospay_client.models import AssignServiceBody, CreateClientBody, CreateServiceBody, Credentials

    created = create_service.sync(client=admin, body=CreateServiceBody.from_dict(
        {"name": service, "service_url": gateway.simulator_url, "timeout_s": 5}))
    assert created.name == service and created.active is True
    actions.save_field(gateway.db, Actor(None, "test", "admin"), service,
                       {"code": "f011", "label": "Invoice", "field_type": "string", "required": True})
    creds = create_client.sync(client=admin, body=CreateClientBody(company_name="Generated Shop"))
    assert isinstance(creds, Credentials)
    assert creds.webhook_secret.startswith("whsec_") and creds.active is True and creds.created_at.tzinfo
    assigned = assign_service.sync(creds.app_id, client=admin,
                                   body=AssignServiceBody(service=service, routes=["collection"]))
    assert assigned.routes == ["collection"] and assigned.app_id == creds.app_id
    return creds


def test_a_generated_client_runs_the_readme_session(gateway, connect):
    from mospay_client.api.client import get_payment, get_payment_status, get_token, process_payment
    from mospay_client.models import GetPaymentStatusBody, PaymentRequest, PaymentResult, PaymentStatus, Transaction

    admin = _admin(connect)
    service = "gen" + secrets.token_hex(3)
    creds = _onboard(admin, gateway, service)

    # 1. a token
    token = get_token.sync(client=connect(headers={"Authorization": _basic(creds.api_username, creds.api_secret),
                                                   "App-ID": creds.app_id}))
    client = connect(token=token.access_token)

    # 2. a payment, with the service's extra field f011 kept by the model (from_dict and to_dict)
    f010 = "gen-" + secrets.token_hex(6)
    body = PaymentRequest.from_dict({
        "f000": service, "f001": "collection", "f002": "collection", "f003": creds.app_id, "f004": "1000.00",
        "f005": "+250788123456", "f006": "customer123", "f007": "encrypted", "f008": "pwd",
        "f009": "device_abc123", "f010": f010, "f011": "INV-7"})
    assert body["f011"] == "INV-7" and body.to_dict()["f011"] == "INV-7"
    paid = process_payment.sync_detailed(client=client, body=body)
    assert paid.status_code == 200, paid.content  # without f011 (required by the service): 422
    assert isinstance(paid.parsed, PaymentResult) and paid.parsed.status == PaymentStatus.SUCCESSFUL
    stored = gateway.db.run("SELECT request ->> 'f011' AS f011 FROM transactions WHERE f010 = :f", f=f010)
    assert stored == [{"f011": "INV-7"}]

    # 3. its status, by f010 in the path and in the body: every field typed, none left optional
    found = get_payment.sync(f010, client=client)
    assert isinstance(found, Transaction)
    assert (found.transaction_id, found.f010, found.status) == (paid.parsed.transaction_id, f010,
                                                                PaymentStatus.SUCCESSFUL)
    assert (found.amount, found.msisdn, found.route, found.service) == ("1000.00", "+250788123456", "collection",
                                                                        service)
    assert found.result["status"] == "SUCCESSFUL" and found.created_at <= found.updated_at
    assert found.additional_properties == {}  # nothing the document leaves out
    again = get_payment_status.sync(client=client, body=GetPaymentStatusBody(f010=f010))
    assert again.to_dict() == found.to_dict()

    # A dot-only f010 is refused with 422 before anything is recorded.
    refused = process_payment.sync_detailed(client=client, body=PaymentRequest.from_dict({**body.to_dict(),
                                                                                          "f010": ".."}))
    assert refused.status_code == 422 and refused.parsed.error.field == "f010"


ADMIN_OPERATIONS = {("/api/v1/admin/clients", "get"): "list clients",
                    ("/api/v1/admin/transactions", "get"): "list transactions (?stuck=true)",
                    ("/api/v1/admin/transactions/{transaction_id}/resolve", "post"): "resolve a transaction"}


def _operation(pkg, doc: dict, path: str, method: str):
    """The generated module of an operation: api/<tag>/<operationId in snake case>.py."""
    op = doc["paths"][path][method]
    module = re.sub(r"(?<!^)(?=[A-Z])", "_", op["operationId"]).lower()
    return importlib.import_module(f"{pkg.__name__}.api.{op['tags'][0]}.{module}"), op


def _argument(function, name: str, text: str):
    """`text` as the type the generated function takes for the parameter: an enum's member (a schema
    with an enum), a bool or the string itself."""
    for kind in typing.get_args(typing.get_type_hints(function)[name]) or (typing.get_type_hints(function)[name],):
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return kind(text)
        if kind is bool:
            return text == "true"
    return text


def _pages(call, **params):
    """Every item of a keyset-paged list ({"items", "next"}), as plain dicts; bounded."""
    for _page in range(100):
        answer = call(**params)
        assert answer.status_code == 200, answer.content
        page = json.loads(answer.content)
        yield from page["items"]
        if not page["next"]:
            return
        params["after"] = page["next"]
    raise AssertionError("more than 100 pages")


def test_a_generated_client_runs_the_admin_tasks(generated, gateway, connect):
    pkg, doc = generated
    missing = [what for (path, method), what in ADMIN_OPERATIONS.items() if method not in doc["paths"].get(path, {})]
    if missing:
        pytest.skip(f"the document does not describe these admin operations yet: {', '.join(missing)}")
    admin = _admin(connect)
    list_clients, _ = _operation(pkg, doc, "/api/v1/admin/clients", "get")
    list_transactions, _ = _operation(pkg, doc, "/api/v1/admin/transactions", "get")
    resolve, _ = _operation(pkg, doc, "/api/v1/admin/transactions/{transaction_id}/resolve", "post")

    # Create a client and assign a service (the generated operations), then find it in the list.
    creds = _onboard(admin, gateway, "genadm" + secrets.token_hex(3))
    assert creds.app_id in {c["app_id"] for c in _pages(list_clients.sync_detailed, client=admin)}

    # A payment whose outcome the reconciler could not settle: the operator's stuck queue.
    f010 = "stuck-" + secrets.token_hex(4)
    gateway.db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash,
                                  status, stuck, check_attempts, created_at)
        SELECT c.id, s.id, 'collection', :f010, 500, '+250788120004',
               jsonb_build_object('f000', s.name, 'f003', c.app_id, 'f010', CAST(:f010 AS text)), 'h-' || :f010,
               'UNKNOWN', true, 28,
               now() - interval '2 days'
          FROM clients c JOIN client_services cs ON cs.client_id = c.id JOIN services s ON s.id = cs.service_id
         WHERE c.app_id = :app_id""", f010=f010, app_id=creds.app_id)
    stuck = _argument(list_transactions.sync_detailed, "stuck", "true")
    queue = list(_pages(list_transactions.sync_detailed, client=admin, stuck=stuck))
    mine = [t for t in queue if t["f010"] == f010]
    assert len(mine) == 1, queue
    transaction_id = mine[0]["transaction_id"]

    # Resolve it with a reason; its body model is the one the generated operation takes.
    body_type = typing.get_type_hints(resolve.sync_detailed)["body"]
    resolved = resolve.sync_detailed(transaction_id, client=admin,
                                     body=body_type.from_dict({"status": "FAILED", "reason": "no debit on the statement"}))
    assert resolved.status_code == 200, resolved.content
    assert json.loads(resolved.content)["status"] == "FAILED"
    assert transaction_id not in {t["transaction_id"] for t in _pages(list_transactions.sync_detailed, client=admin,
                                                                      stuck=stuck)}
