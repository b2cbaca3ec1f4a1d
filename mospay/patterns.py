"""Field patterns set by admins: only a subset of Python regular expressions whose worst case is small.

Python's `re` backtracks, and a match cannot be interrupted: one pattern like `(a+)+` and one hostile
value would hold a worker thread (and the GIL) for minutes. So a pattern is accepted only when a bound on
its backtracking, computed from its parse tree, is small for the longest value it will ever see:
  - no quantifier inside a quantified group (`(a+)+`, `(.*a){20}`),
  - no alternation inside a quantified group (`(a|aa)+`, `(a|a?)+`; `(a|b)+` is a character class and fine),
  - no back-references, lookarounds or conditionals,
  - the product of the quantifiers' widths (each capped at MAX_VALUE) at most MAX_STEPS: two unbounded
    quantifiers in a row are fine, three are not (`[^@]+@[^@]+\\.[a-z]{2,24}` is; `.*.*.*x` is not).
The same check runs on the payment path (cached per pattern), so a pattern saved before this rule existed
cannot stall anything either: it refuses the field until an admin replaces it.
"""

from __future__ import annotations

import functools
import logging
import re

from . import errors

try:  # Python 3.11+
    import re._constants as _c
    import re._parser as _parser
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

log = logging.getLogger("mospay.patterns")
MAX_PATTERN = 200       # characters of pattern
MAX_VALUE = 1024        # characters of a value checked against a pattern
MAX_STEPS = 1 << 25     # bound on backtracking steps for a value of MAX_VALUE characters (~50 ms measured)
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_FORBIDDEN = {_c.GROUPREF, _c.GROUPREF_EXISTS, _c.ASSERT, _c.ASSERT_NOT}


class UnsafePattern(ValueError):
    """Why a pattern is refused, in words an admin can act on."""


def _cost(items, in_repeat: bool) -> int:
    """Worst-case steps of a sequence: the product of its parts (alternatives add up)."""
    total = 1
    for op, arg in items:
        if op in _FORBIDDEN:
            raise UnsafePattern("back-references, lookarounds and conditionals are not allowed")
        if op in _REPEATS:
            low, high, body = arg
            if in_repeat:
                raise UnsafePattern("a quantifier inside a repeated group can take exponential time")
            width = min(MAX_VALUE, high) + 1
            total *= width * _cost(body, in_repeat=high > 1)
        elif op is _c.SUBPATTERN:
            total *= _cost(arg[-1], in_repeat)
        elif op is _c.BRANCH:
            if in_repeat:
                raise UnsafePattern("alternatives inside a repeated group can take exponential time; "
                                    "use a character class like [ab] or list whole values")
            total *= sum(_cost(branch, in_repeat) for branch in arg[1])
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            total *= _cost(arg, in_repeat)
        if total > MAX_STEPS:
            raise UnsafePattern("too many quantifiers in a row: at most two unbounded ones (+, *, {n,})")
    return total


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str) -> re.Pattern:
    """The compiled pattern, or UnsafePattern (or re.error) saying why it may not be used."""
    if len(pattern) > MAX_PATTERN:
        raise UnsafePattern(f"is longer than {MAX_PATTERN} characters")
    _cost(_parser.parse(pattern), in_repeat=False)
    return re.compile(pattern)


def check(pattern: str, field: str = "pattern") -> str:
    """For the places that save a pattern: a 422 naming the problem, or the pattern unchanged."""
    try:
        compiled(pattern)
    except re.error as exc:
        raise errors.InvalidField(f"is not a valid regular expression: {exc}", field=field) from None
    except (UnsafePattern, RecursionError, OverflowError) as exc:
        raise errors.InvalidField(f"is not allowed: {exc}", field=field, code="unsafe_pattern") from None
    return pattern


def fullmatch(pattern: str, value: str, field: str) -> bool:
    """The payment path's check. A value too long to check quickly, or a pattern that is no longer
    allowed (saved before the rule), refuses the field instead of running the match."""
    if len(value) > MAX_VALUE:
        raise errors.InvalidField(f"is longer than {MAX_VALUE} characters, the most a format is checked on",
                                  field=field)
    try:
        rx = compiled(pattern)
    except (re.error, UnsafePattern, RecursionError, OverflowError) as exc:
        log.error("the pattern of field %s is not allowed (%s): the field is refused until an admin "
                  "replaces it", field, exc)
        raise errors.InvalidField("cannot be checked: its format rule is not allowed; the operator must "
                                  "replace it", field=field, code="unsafe_pattern") from None
    return rx.fullmatch(value) is not None
