"""Input rules shared by every path that accepts them (admin API, portal, CLI, payments):
text fields, URLs, durations, passwords. A rule lives here once; callers only name the field."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from . import errors

URL_RE = re.compile(r"https?://[^\s/$.?#][^\s]{0,490}")


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
