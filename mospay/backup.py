"""Backup and restore with pg_dump / pg_restore (custom format), with progress on the terminal.

The tools come from pgserver's bundled PostgreSQL when it is installed (a known, recent version),
else from PATH. The password travels in PGPASSWORD, never on the command line (where `ps` shows it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from . import errors



class BackupError(errors.MosPayError):
    status, code = 500, "backup_failed"


def tool(name: str) -> str:
    """Path of pg_dump / pg_restore: pgserver's bundled copy first, then PATH."""
    try:
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            import pgserver
        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / (name + (".exe" if os.name == "nt" else ""))
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools or the pgserver package",
                          code="tool_missing")
    return found


def libpq_target(url: str) -> tuple[str, dict]:
    """The URL without its password (for argv) and the environment carrying it (PGPASSWORD)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    password = unquote(parts.password) if parts.password else dict(query).get("password")
    query = [(k, v) for k, v in query if k != "password"]
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"  # an IPv6 address
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = quote(unquote(parts.username), safe="") + "@" + netloc
    clean = urlunsplit(("postgresql", netloc, parts.path, urlencode(query), ""))
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    return clean, env


class Progress:
    """`done/total` as a bar redrawn in place on a terminal, or a line every 10% in a log/pipe."""

    def __init__(self, label: str, total: int, stream=None):
        self.label, self.total, self.done = label, max(total, 1), 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_decile = -1

    def step(self, what: str = "") -> None:
        self.done = min(self.done + 1, self.total)
        pct = self.done * 100 // self.total
        if self.tty:
            bar = "#" * (pct // 5) + "." * (20 - pct // 5)
            self.stream.write(f"\r{self.label} [{bar}] {pct:3d}% {what[:40]:<40}")
            self.stream.flush()
        elif pct // 10 != self._last_decile:
            self._last_decile = pct // 10
            self.stream.write(f"{self.label}: {pct}% ({self.done}/{self.total}) {what}\n")
            self.stream.flush()

    def finish(self, message: str) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 80 + "\r")
        self.stream.write(f"{self.label}: {message}\n")
        self.stream.flush()


def _run_with_progress(args: list[str], env: dict, progress: Progress, counts) -> None:
    """Run a tool with --verbose, advancing `progress` for each stderr line `counts` accepts."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            errors="replace")
    errors_seen = []
    for line in proc.stderr:
        line = line.rstrip()
        what = counts(line)
        if what is not None:
            progress.step(what)
        elif "error" in line.lower() or "fatal" in line.lower():
            errors_seen.append(line)
    code = proc.wait()
    if code != 0:
        raise BackupError(f"{Path(args[0]).name} failed (exit {code}): "
                          + (" | ".join(errors_seen[-3:]) or "see its output above"))


def _object_count(db) -> int:
    """How many data items pg_dump will report: the progress bar's denominator."""
    return int(db.query("dumpable_relations")[0]["n"])


def backup(url: str, db, path: Path, stream=None) -> dict:
    """pg_dump -Fc into `path` (written to a temporary name, renamed when complete)."""
    path = Path(path)
    target, env = libpq_target(url)
    partial = path.with_name(path.name + ".partial")
    progress = Progress("backup", _object_count(db), stream)

    def counts(line):
        # pg_dump: dumping contents of table "public.clients"  (one line as each table starts)
        if "dumping contents of table" in line:
            return line.rsplit(" ", 1)[-1].strip('"')
        return None

    try:
        _run_with_progress([tool("pg_dump"), "--format=custom", "--verbose", "--no-owner",
                            f"--file={partial}", f"--dbname={target}"], env, progress, counts)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    size = path.stat().st_size
    progress.finish(f"wrote {path} ({size} bytes)")
    return {"backup": str(path), "bytes": size}


def _toc_entries(path: Path, env: dict) -> int:
    listing = subprocess.run([tool("pg_restore"), "--list", str(path)], env=env, capture_output=True, text=True)
    if listing.returncode != 0:
        raise BackupError(f"{path} is not a pg_dump custom-format file: {listing.stderr.strip()[:200]}",
                          code="invalid_backup", status=400)
    # restore() passes --no-privileges: GRANT entries (ACL) are listed but never restored, never counted.
    return sum(1 for line in listing.stdout.splitlines()
               if line and not line.startswith(";") and " ACL " not in line)


def database_is_empty(db) -> bool:
    return db.query("mospay_table_count")[0]["n"] == 0


def restore(url: str, db, path: Path, *, clean: bool = False, stream=None) -> dict:
    """pg_restore into the configured database: all or nothing (one transaction).

    Refuses a database that already has MosPay tables unless `clean` (then the dump's objects replace
    them), so a mistyped DATABASE_URL cannot overwrite production.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file", code="invalid_backup", status=400)
    target, env = libpq_target(url)
    if not clean and not database_is_empty(db):
        raise BackupError("the database already has MosPay tables; restore into an empty database, or pass "
                          "--clean to replace them", code="database_not_empty", status=409)
    progress = Progress("restore", _toc_entries(path, env), stream)

    def counts(line):
        for marker in ("creating ", "processing data for table ", "executing ", "dropping "):
            if line.startswith("pg_restore: " + marker):
                return line[len("pg_restore: "):]
        return None

    args = [tool("pg_restore"), "--verbose", "--no-owner", "--no-privileges", "--single-transaction",
            "--exit-on-error", f"--dbname={target}"]
    if clean:
        args += ["--clean", "--if-exists"]
    _run_with_progress(args + [str(path)], env, progress, counts)
    progress.finish(f"restored {path}")
    return {"restored": str(path)}
