"""DDL for the per-client PostgreSQL functions: name checks, identifier quoting and string templates.

This is the only module that builds SQL text from names. Names are validated against strict patterns,
always emitted as quoted identifiers, and never truncated (PostgreSQL would cut at 63 bytes).
"""

from __future__ import annotations

import re

from .errors import InvalidField

SCHEMA = "mospay_fn"
MAX_IDENTIFIER_BYTES = 63
APP_ID_RE = re.compile(r"[A-Za-z0-9]{3,24}")
NAME_RE = re.compile(r"[a-z0-9]{1,24}")  # service names and routes


def quote_ident(name: str) -> str:
    """The one quoting helper for identifiers in dynamic SQL."""
    if "\x00" in name:
        raise InvalidField("identifiers cannot contain NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    if "\x00" in value:
        raise InvalidField("literals cannot contain NUL")
    return "'" + value.replace("'", "''") + "'"


def check_app_id(app_id: str, field: str = "app_id") -> str:
    if not isinstance(app_id, str) or not APP_ID_RE.fullmatch(app_id):
        raise InvalidField("must be 3-24 letters or digits", field=field)
    return app_id


def check_name(name: str, field: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidField("must be 1-24 lowercase letters or digits", field=field)
    return name


def request_function_name(app_id: str, service: str, route: str) -> str:
    """Seed naming: {app_id}_{microservice}_{route}, e.g. akaliza_mtnmomorwa_collection."""
    check_app_id(app_id)
    check_name(service, "service")
    check_name(route, "route")
    name = f"{app_id}_{service}_{route}"
    if len(response_function_name_unchecked(name).encode()) > MAX_IDENTIFIER_BYTES:
        raise InvalidField(f"function name {name!r} would exceed PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte "
                           "limit; use a shorter app id, service or route", field="route")
    return name


def response_function_name_unchecked(request_name: str) -> str:
    return "RESPONSE_" + request_name


def status_function_name(app_id: str, service: str, route: str) -> str:
    """The reconciler's function: {app_id}_{service}_{route}Status (shorter than the RESPONSE_ name)."""
    return request_function_name(app_id, service, route) + "Status"


# Every generated function shares this head: it returns jsonb, and pins search_path so that a schema a
# client can write to is never searched before pg_catalog. {schema} and {name} are filled in by _render.
REQUEST_ARGUMENTS = "unique_id text, data_input jsonb"
ANSWER_ARGUMENTS = "unique_id text, data_input jsonb, code integer, data_output jsonb"
REQUEST_ARGUMENT_TYPES = "text, jsonb"
ANSWER_ARGUMENT_TYPES = "text, jsonb, integer, jsonb"


def _signature(arguments: str) -> str:
    return ("CREATE OR REPLACE FUNCTION {schema}.{name}(" + arguments + ")\n"
            "RETURNS jsonb\n"
            "LANGUAGE plpgsql\n"
            "SET search_path = pg_catalog, public\n"
            "AS $mospay$\n")


def _answer_outcome(noun: str, pending: str, unknown: str, unknown_note: str = "") -> str:
    """The body of a RESPONSE function: a payment's and a refund's read the provider's answer by the same
    rules and differ only in their wording. unknown_note is a comment line before the UNKNOWN fall-through:
    the payment template has always carried one and the refund template none, and functions already made
    from either must not change (tests/unit/golden pins both)."""
    return f"""\
DECLARE
    provider_status text := upper(coalesce(data_output ->> 'status', ''));
BEGIN
    IF code BETWEEN 200 AND 299 AND provider_status IN ('SUCCESSFUL', 'SUCCESS') THEN
        RETURN jsonb_build_object('status', 'SUCCESSFUL', 'message', '{noun} completed',
                                  'financialTransactionId', data_output ->> 'financialTransactionId');
    ELSIF code BETWEEN 200 AND 299 AND (code = 202 OR provider_status = 'PENDING') THEN
        RETURN jsonb_build_object('status', 'PENDING', 'message', '{pending}');
    ELSIF (code BETWEEN 200 AND 299 AND provider_status IN ('FAILED', 'REJECTED'))
       OR (code BETWEEN 400 AND 499 AND code NOT IN (408, 409)) THEN
        RETURN jsonb_build_object('status', 'FAILED', 'message', '{noun} declined',
                                  'reason', coalesce(data_output ->> 'reason', 'DECLINED'));
    END IF;
{unknown_note}    RETURN jsonb_build_object('status', 'UNKNOWN', 'message', '{unknown}');
END
$mospay$;
"""

REQUEST_TEMPLATE = _signature(REQUEST_ARGUMENTS) + """\
-- Request function: client {app_id}, service {service}, route {route}.
-- unique_id is the provider reference (one per transaction); data_input holds the request fields f000..f010 (f007/f008 in clear: never store them)
-- and _callback_url, where the provider may send its asynchronous result.
-- Return {{"action": "SERVICE" | "OUTPUT" | "ERROR", "serviceurl", "method", "headers", "servicepayload"}};
-- OUTPUT answers the client directly with "status"/"message", ERROR refuses with "message".
-- Never write a provider key here: store it (portal: Credentials) and name it in any string of the plan,
-- e.g. 'Ocp-Apim-Subscription-Key', '{{{{credential:subscription_key}}}}'; MosPay fills it in at call time.
DECLARE
    svc record;
BEGIN
    SELECT s.service_url, s.currency INTO svc FROM services s WHERE s.name = {service_literal};
    RETURN jsonb_build_object(
        'action', 'SERVICE',
        'serviceurl', rtrim(svc.service_url, '/') || '/' || {route_literal},
        'method', 'POST',
        'headers', jsonb_strip_nulls(jsonb_build_object('Content-Type', 'application/json',
                                     'X-Reference-Id', unique_id,
                                     'X-Callback-Url', data_input ->> '_callback_url')),
        'servicepayload', jsonb_build_object(
            'amount', data_input ->> 'f004',
            'currency', svc.currency,
            'externalId', unique_id,
            'payer', jsonb_build_object('partyIdType', 'MSISDN', 'partyId', data_input ->> 'f005'),
            'payerMessage', 'Payment ' || unique_id,
            'payeeNote', coalesce(data_input ->> 'f006', '')));
END
$mospay$;
"""

RESPONSE_TEMPLATE = _signature(ANSWER_ARGUMENTS) + """\
-- RESPONSE function: client {app_id}, service {service}, route {route}.
-- code is the provider's HTTP status; data_output its parsed JSON body (a JSON string when not JSON);
-- data_input is the request with secret fields masked. Return {{"status": "SUCCESSFUL" | "FAILED" |
-- "PENDING" | "UNKNOWN", "message", ...}}: this object is what the client receives as "result".
""" + _answer_outcome(
    "Payment", pending="Awaiting payer approval", unknown="Provider outcome unknown; it will be checked",
    unknown_note="    -- 5xx, 408 (timeout), 409 (duplicate reference: the first may have gone through), anything else.\n")


# The two Status templates stay written out in full rather than built from one helper: they are not the same
# rules (a payment counts EXPIRED as declined, a refund does not) and each 404 explains its own money.
STATUS_TEMPLATE = _signature(ANSWER_ARGUMENTS) + """\
-- Status function: client {app_id}, service {service}, route {route}; used by the reconciler.
-- Called twice per check. With code NULL: return the status call {{"serviceurl", "method", "headers"}}
-- (MTN MoMo: GET <route>/<referenceId>). With the provider's HTTP status and parsed body: return
-- {{"status": "SUCCESSFUL" | "FAILED" | "PENDING" | "UNKNOWN", "message", ...}}. Only SUCCESSFUL and
-- FAILED settle the transaction; anything else is checked again later on the service's schedule.
DECLARE
    svc record;
    provider_status text := upper(coalesce(data_output ->> 'status', ''));
BEGIN
    IF code IS NULL THEN
        SELECT s.service_url INTO svc FROM services s WHERE s.name = {service_literal};
        RETURN jsonb_build_object(
            'action', 'SERVICE', 'method', 'GET',
            'serviceurl', rtrim(svc.service_url, '/') || '/' || {route_literal} || '/' || unique_id,
            'headers', jsonb_build_object('X-Reference-Id', unique_id));
    END IF;
    IF code BETWEEN 200 AND 299 AND provider_status IN ('SUCCESSFUL', 'SUCCESS') THEN
        RETURN jsonb_build_object('status', 'SUCCESSFUL', 'message', 'Payment completed',
                                  'financialTransactionId', data_output ->> 'financialTransactionId');
    ELSIF code BETWEEN 200 AND 299 AND provider_status IN ('FAILED', 'REJECTED', 'EXPIRED') THEN
        RETURN jsonb_build_object('status', 'FAILED', 'message', 'Payment declined',
                                  'reason', coalesce(data_output ->> 'reason', provider_status));
    ELSIF code = 404 THEN
        -- The provider never accepted this reference (e.g. MosPay crashed before the call left).
        RETURN jsonb_build_object('status', 'FAILED', 'message', 'The provider has no record of this payment',
                                  'reason', 'NOT_FOUND_AT_PROVIDER');
    ELSIF code BETWEEN 200 AND 299 AND provider_status = 'PENDING' THEN
        RETURN jsonb_build_object('status', 'PENDING', 'message', 'Awaiting payer approval');
    END IF;
    RETURN jsonb_build_object('status', 'UNKNOWN', 'message', 'Provider outcome still unknown');
END
$mospay$;
"""


REFUND_REQUEST_TEMPLATE = _signature(REQUEST_ARGUMENTS) + """\
-- Refund request function: client {app_id}, service {service} (MTN MoMo's refund shape).
-- unique_id is the refund's own provider reference (a fresh UUID); data_input holds the refund: refund_id,
-- amount, currency, reason, and its payment: payment_reference (what the provider was sent for the payment),
-- payment_transaction_id, payment_f010, payment_amount, payment_msisdn, financialTransactionId; and
-- _callback_url. Return {{"action": "SERVICE" | "OUTPUT" | "ERROR", "serviceurl", "method", "headers",
-- "servicepayload"}}, as a payment's request function does.
DECLARE
    svc record;
BEGIN
    SELECT s.service_url INTO svc FROM services s WHERE s.name = {service_literal};
    RETURN jsonb_build_object(
        'action', 'SERVICE',
        'serviceurl', rtrim(svc.service_url, '/') || '/v1_0/refund',
        'method', 'POST',
        'headers', jsonb_strip_nulls(jsonb_build_object('Content-Type', 'application/json',
                                     'X-Reference-Id', unique_id,
                                     'X-Callback-Url', data_input ->> '_callback_url')),
        'servicepayload', jsonb_build_object(
            'amount', data_input ->> 'amount',
            'currency', data_input ->> 'currency',
            'externalId', unique_id,
            'referenceIdToRefund', data_input ->> 'payment_reference',
            'payerMessage', 'Refund ' || (data_input ->> 'refund_id'),
            'payeeNote', coalesce(data_input ->> 'reason', '')));
END
$mospay$;
"""

REFUND_RESPONSE_TEMPLATE = _signature(ANSWER_ARGUMENTS) + """\
-- Refund RESPONSE function: client {app_id}, service {service}. As a payment's: code is the provider's HTTP
-- status, data_output its parsed body, data_input the refund (see the refund request function). Return
-- {{"status": "SUCCESSFUL" | "FAILED" | "PENDING" | "UNKNOWN", "message", ...}}: the refund's "result".
""" + _answer_outcome(
    "Refund", pending="Refund accepted; awaiting the provider", unknown="Refund outcome unknown; it will be checked")

REFUND_STATUS_TEMPLATE = _signature(ANSWER_ARGUMENTS) + """\
-- Refund Status function: client {app_id}, service {service}; used by the reconciler for PENDING and UNKNOWN
-- refunds. With code NULL: the status call (MTN MoMo: GET v1_0/refund/<referenceId>); with the answer:
-- {{"status": ...}}. Only SUCCESSFUL and FAILED settle the refund.
DECLARE
    svc record;
    provider_status text := upper(coalesce(data_output ->> 'status', ''));
BEGIN
    IF code IS NULL THEN
        SELECT s.service_url INTO svc FROM services s WHERE s.name = {service_literal};
        RETURN jsonb_build_object(
            'action', 'SERVICE', 'method', 'GET',
            'serviceurl', rtrim(svc.service_url, '/') || '/v1_0/refund/' || unique_id,
            'headers', jsonb_build_object('X-Reference-Id', unique_id));
    END IF;
    IF code BETWEEN 200 AND 299 AND provider_status IN ('SUCCESSFUL', 'SUCCESS') THEN
        RETURN jsonb_build_object('status', 'SUCCESSFUL', 'message', 'Refund completed',
                                  'financialTransactionId', data_output ->> 'financialTransactionId');
    ELSIF code BETWEEN 200 AND 299 AND provider_status IN ('FAILED', 'REJECTED') THEN
        RETURN jsonb_build_object('status', 'FAILED', 'message', 'Refund declined',
                                  'reason', coalesce(data_output ->> 'reason', provider_status));
    ELSIF code = 404 THEN
        -- The provider never took this refund on (e.g. MosPay stopped before the call left): no money moved.
        RETURN jsonb_build_object('status', 'FAILED', 'message', 'The provider has no record of this refund',
                                  'reason', 'NOT_FOUND_AT_PROVIDER');
    ELSIF code BETWEEN 200 AND 299 AND provider_status = 'PENDING' THEN
        RETURN jsonb_build_object('status', 'PENDING', 'message', 'Refund accepted; awaiting the provider');
    END IF;
    RETURN jsonb_build_object('status', 'UNKNOWN', 'message', 'Refund outcome still unknown');
END
$mospay$;
"""


def _function_names(request_name: str) -> tuple[str, str, str]:
    """The three functions one plan is made of: the request function, its RESPONSE_ and its ...Status."""
    return request_name, response_function_name_unchecked(request_name), request_name + "Status"


def refund_function_names(app_id: str, service: str) -> tuple[str, str, str] | None:
    """A client's refund functions for one service: {app_id}_{service}_Refund, its RESPONSE_ and its
    ...Status. The capital R keeps them apart from any route's (routes are lower case). None when the
    RESPONSE_ name would pass PostgreSQL's 63 bytes (an app id and service name longer than 47 together):
    such an assignment has no refund functions, and its payments are not refundable."""
    check_app_id(app_id)
    check_name(service, "service")
    name = f"{app_id}_{service}_Refund"
    if len(response_function_name_unchecked(name).encode()) > MAX_IDENTIFIER_BYTES:
        return None
    return _function_names(name)


def create_refund_function_ddl(app_id: str, service: str) -> list[str]:
    """CREATE OR REPLACE statements for the refund request, RESPONSE and Status functions ([] when the
    names would be too long: see refund_function_names)."""
    names = refund_function_names(app_id, service)
    if names is None:
        return []
    templates = (REFUND_REQUEST_TEMPLATE, REFUND_RESPONSE_TEMPLATE, REFUND_STATUS_TEMPLATE)
    return [_render(t, n, app_id, service, "") for t, n in zip(templates, names)]


def drop_refund_function_ddl(app_id: str, service: str) -> list[str]:
    names = refund_function_names(app_id, service)
    return [] if names is None else _drop_ddl(names)


def _render(template: str, name: str, app_id: str, service: str, route: str) -> str:
    return template.format(schema=quote_ident(SCHEMA), name=quote_ident(name), app_id=app_id,
                           service=service, route=route, service_literal=quote_literal(service),
                           route_literal=quote_literal(route))


def _drop_ddl(names: tuple[str, str, str]) -> list[str]:
    """DROP statements for a request function, its RESPONSE_ and its ...Status (by argument types, as
    PostgreSQL needs them to pick the function)."""
    schema = quote_ident(SCHEMA)
    request, *answers = names
    return [f"DROP FUNCTION IF EXISTS {schema}.{quote_ident(request)}({REQUEST_ARGUMENT_TYPES})",
            *(f"DROP FUNCTION IF EXISTS {schema}.{quote_ident(n)}({ANSWER_ARGUMENT_TYPES})" for n in answers)]


def create_function_ddl(app_id: str, service: str, route: str) -> list[str]:
    """CREATE OR REPLACE statements for the request, RESPONSE and Status functions of one route."""
    names = _function_names(request_function_name(app_id, service, route))
    templates = (REQUEST_TEMPLATE, RESPONSE_TEMPLATE, STATUS_TEMPLATE)
    return [_render(t, n, app_id, service, route) for t, n in zip(templates, names)]


def drop_function_ddl(app_id: str, service: str, route: str) -> list[str]:
    return _drop_ddl(_function_names(request_function_name(app_id, service, route)))
