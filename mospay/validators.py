"""Input rules shared by every path that accepts them (admin API, portal, CLI, payments): text fields,
URLs, durations, passwords, amounts, field codes and keyset page cursors. A rule lives here once; callers
only name the field, so the same bad value gets the same 422 on every path."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from . import errors

URL_RE = re.compile(r"https?://[^\s/$.?#][^\s]{0,490}")
AMOUNT_RE = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")
FIELD_CODE_RE = re.compile(r"f[0-9]{3}")
_CURSOR_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T[0-9:.]+[+-]\d{2}:\d{2})_(\d{1,18})")
PASSWORD_MIN, PASSWORD_MAX_BYTES = 8, 72  # bcrypt reads at most 72 bytes
CREDENTIAL_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
CREDENTIAL_MIN, CREDENTIAL_MAX = 8, 4096


def text(data: dict, key: str, *, required: bool = True, max_length: int = 200) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise errors.InvalidField("is required", field=key, code="missing_field")
        return None
    if not isinstance(value, str):
        raise errors.InvalidField("must be a string", field=key, code="invalid_type")
    value = value.strip()
    if not value and required:
        raise errors.InvalidField("is required", field=key, code="missing_field")
    if len(value) > max_length or "\x00" in value:
        raise errors.InvalidField(f"must be at most {max_length} characters", field=key)
    return value or None


def seconds(data: dict, key: str, maximum: int) -> Decimal | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise errors.InvalidField("must be a number of seconds", field=key, code="invalid_type")
    try:
        seconds = Decimal(str(value))
    except InvalidOperation:
        raise errors.InvalidField("must be a number of seconds", field=key) from None
    if not seconds.is_finite() or not 0 < seconds <= maximum:
        raise errors.InvalidField(f"must be between 0 and {maximum} seconds", field=key)
    return seconds.quantize(Decimal("0.01"))


def url(data: dict, key: str, *, required: bool) -> str | None:
    url = text(data, key, required=required, max_length=500)
    if url is not None and not URL_RE.fullmatch(url):
        raise errors.InvalidField("must be an http:// or https:// URL", field=key)
    return url


def password(value, field: str = "password") -> str:
    """An operator's password: 8-72 characters, at most 72 bytes in UTF-8, no NUL.

    bcrypt reads only the first 72 bytes (bcrypt 5 raises past them: a 500 before this rule) and refuses
    NUL; a lone surrogate cannot be encoded at all. Every path that sets a password checks it here."""
    try:
        size = len(value.encode("utf-8")) if isinstance(value, str) else None
    except UnicodeEncodeError:
        size = None
    if size is None or len(value) < PASSWORD_MIN or size > PASSWORD_MAX_BYTES or "\x00" in value:
        raise errors.InvalidField(f"must be {PASSWORD_MIN}-{PASSWORD_MAX_BYTES} characters, at most "
                                  f"{PASSWORD_MAX_BYTES} bytes in UTF-8, with no NUL character", field=field)
    return value


def credential_name(name, field: str = "name") -> str:
    """A provider credential's name, as functions write it in `{{credential:name}}`."""
    if not isinstance(name, str) or not CREDENTIAL_NAME_RE.fullmatch(name):
        raise errors.InvalidField("must be 1-64 lowercase letters, digits or _, starting with a letter",
                                  field=field)
    return name


def credential_value(value, field: str = "value") -> str:
    """8-4096 printable characters; surrounding whitespace (a pasted newline) is dropped. Control characters
    are refused: a value usually ends up in an HTTP header."""
    if not isinstance(value, str):
        raise errors.InvalidField("must be a string", field=field, code="invalid_type")
    value = value.strip()
    if not CREDENTIAL_MIN <= len(value) <= CREDENTIAL_MAX or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise errors.InvalidField(f"must be {CREDENTIAL_MIN}-{CREDENTIAL_MAX} printable characters", field=field)
    return value


def amount(value: str, field: str) -> Decimal:
    """A money amount as text: positive, at most 15 digits and 2 decimal places (no exponent, no sign)."""
    if not isinstance(value, str) or not AMOUNT_RE.fullmatch(value):
        raise errors.InvalidField("must be a positive decimal with at most 2 places, like 1000.00", field=field)
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise errors.InvalidField("must be a decimal number", field=field) from None
    if parsed <= 0:
        raise errors.InvalidField("must be greater than zero", field=field)
    return parsed


def is_field_code(value) -> bool:
    """f000-f999: the only keys a payment body or a service's field definitions may use."""
    return isinstance(value, str) and FIELD_CODE_RE.fullmatch(value) is not None


def field_code(value, field: str = "code") -> str:
    if not is_field_code(value):
        raise errors.InvalidField("must be f followed by three digits, like f011", field=field)
    return value


PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX = 50, 200


def row_id(value, digits: int = 17) -> int | None:
    """A row id from a URL or query string, or None: ASCII digits only (str.isdigit also takes '²', which
    int() refuses), at most `digits` of them (a bigint holds 18)."""
    text = str(value)
    return int(text) if re.fullmatch(f"[0-9]{{1,{digits}}}", text) else None


def page_limit(raw) -> int:
    """A keyset page's size (?limit=): 1..200, 50 when absent. Anything else is a 422, "²", "-1", an
    empty value and a repeated parameter (a list) included."""
    if raw is None:
        return PAGE_LIMIT_DEFAULT
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 4) \
            or not 1 <= int(raw) <= PAGE_LIMIT_MAX:
        raise errors.InvalidField(f"must be a whole number from 1 to {PAGE_LIMIT_MAX}", field="limit")
    return int(raw)


def cursor_text(row: dict) -> str:
    """The keyset cursor after `row` in a list ordered by (created_at, id) descending."""
    return f"{row['created_at'].isoformat()}_{row['id']}"


def cursor(value: str | None, field: str = "after") -> tuple[dt.datetime | None, int | None]:
    """(created_at, id) from a cursor_text() value; (None, None) for none (the first page)."""
    if not value:
        return None, None
    match = _CURSOR_RE.fullmatch(value)
    try:
        if match:
            return dt.datetime.fromisoformat(match.group(1)), int(match.group(2))
    except ValueError:
        pass
    raise errors.InvalidField("is not a valid page cursor", field=field)
