"""Request helpers shared by the API resources: strict JSON bodies and caller credentials."""

from __future__ import annotations

import json
from decimal import Decimal

from .. import errors, functions
from ..auth import BAD_CREDENTIALS, Tokens, parse_basic
from ..payments import ClientCredentials

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="mospay", Bearer'}


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise errors.BadRequest(f"duplicate key {key[:40]!r} in JSON object", code="malformed_json")
        obj[key] = value
    return obj


def _reject_constant(name):
    raise errors.BadRequest(f"{name} is not valid JSON", code="malformed_json")


def _check_strings(value, depth=0):
    if depth > 32:
        raise errors.BadRequest("JSON nested too deeply", code="malformed_json")
    if isinstance(value, str):
        if "\x00" in value:
            raise errors.BadRequest("NUL characters are not allowed", code="malformed_json")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800": not text
                raise errors.BadRequest("invalid \\u escape (a lone surrogate)", code="malformed_json") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_strings(k, depth + 1)
            _check_strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_strings(v, depth + 1)


def read_json(req, max_bytes: int) -> dict:
    """The body as a JSON object, or a 4xx: 415 wrong type, 413 too large, 400 malformed."""
    media = (req.content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise errors.UnsupportedMediaType("Content-Type must be application/json")
    if req.content_length is not None and req.content_length > max_bytes:
        raise errors.PayloadTooLarge(f"the body is larger than {max_bytes} bytes")
    raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise errors.PayloadTooLarge(f"the body is larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant,
                          parse_float=Decimal)
    except UnicodeDecodeError:
        raise errors.BadRequest("the body is not valid UTF-8", code="malformed_json") from None
    except (ValueError, RecursionError):
        raise errors.BadRequest("the body is not valid JSON", code="malformed_json") from None
    if not isinstance(body, dict):
        raise errors.BadRequest("the body must be a JSON object", code="malformed_json")
    _check_strings(body)
    return body


def strict_body(req, config, allowed, *, empty_ok: bool = False) -> dict:
    """A JSON object with only `allowed` keys (422 unknown_field otherwise). empty_ok: an action whose body
    is optional accepts no body at all."""
    if empty_ok and not req.content_length and not req.content_type:
        return {}
    data = read_json(req, config.max_body_bytes)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise errors.InvalidField(f"cannot be set here (known: {', '.join(sorted(allowed))})", field=unknown[0][:40],
                                  code="unknown_field")
    return data


def client_credentials(req, tokens: Tokens) -> ClientCredentials:
    """Bearer token, or Basic + App-ID (X-App-ID accepted too). Every failure is the same 401."""
    header = req.get_header("Authorization") or ""
    app_id = req.get_header("App-ID") or req.get_header("X-App-ID")
    if app_id is not None and not functions.APP_ID_RE.fullmatch(app_id):
        raise errors.Unauthorized(BAD_CREDENTIALS, headers=_CHALLENGE)
    if header[:7].lower() == "bearer ":
        claims = tokens.verify(header[7:].strip(), "client")
        if app_id is not None and app_id != claims["sub"]:
            raise errors.Unauthorized(BAD_CREDENTIALS, headers=_CHALLENGE)
        if isinstance(getattr(req.context, "log", None), dict):
            req.context.log["app_id"] = claims["sub"]  # bearer calls carry no App-ID header: log the token's
        return ClientCredentials(claims["sub"], token_version=claims["cv"])
    if not header or app_id is None:
        raise errors.Unauthorized("send Authorization: Bearer <token>, or Basic credentials with an App-ID header",
                                  headers=_CHALLENGE)
    try:
        basic = parse_basic(header)
    except errors.Unauthorized as exc:
        exc.headers = _CHALLENGE
        raise
    return ClientCredentials(app_id, basic=basic)
