"""The named queries: every `-- name: x` block of every .sql file in this folder, parsed once at import
into one namespace, QUERIES. Run them with Database.query / Transaction.query (mospay/db.py says which
are prepared and why)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

SQL_DIR = Path(__file__).parent
_NAME_LINE = re.compile(r"--\s*name:\s*(\w+)\s*(\(prepared\))?\s*$")


@dataclasses.dataclass(frozen=True)
class Query:
    name: str
    text: str
    prepared: bool  # `-- name: x (prepared)`: parsed and planned once per connection
    source: str  # the file it came from, for error messages


def parse_queries(text: str, source: str) -> list[Query]:
    """The `-- name: x` blocks of one file, in order. Text before the first block is the file's header."""
    found, current, lines = [], None, []
    for line in text.splitlines():
        match = _NAME_LINE.match(line)
        if match is None and re.match(r"--\s*name:", line):
            raise ValueError(f"{source}: malformed query header {line!r}")
        if match:
            if current:
                found.append(Query(current[0], "\n".join(lines).strip(), current[1], source))
            current, lines = (match.group(1), bool(match.group(2))), []
        elif current:
            lines.append(line)
    if current:
        found.append(Query(current[0], "\n".join(lines).strip(), current[1], source))
    return found


def load_queries(directory: Path = SQL_DIR) -> dict[str, Query]:
    """Every named query of every .sql file in `directory`, in one namespace; a name used twice is an error."""
    queries: dict[str, Query] = {}
    for path in sorted(directory.glob("*.sql")):
        for query in parse_queries(path.read_text(encoding="utf-8"), path.name):
            if query.name in queries:
                raise ValueError(f"query {query.name!r} is defined in both {queries[query.name].source} "
                                 f"and {query.source}")
            if not query.text:
                raise ValueError(f"{query.source}: query {query.name!r} is empty")
            queries[query.name] = query
    return queries


QUERIES = load_queries()
