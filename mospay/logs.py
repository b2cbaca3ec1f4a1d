"""Logging set-up for run.py: plain text or JSON lines (MOSPAY_LOG_FORMAT), stdlib only.

The access log (one line per request) is the logger `mospay.access`; MOSPAY_ACCESS_LOG=off silences
just that logger, for benchmarks, without hiding warnings and errors.
"""

from __future__ import annotations

import datetime
import json
import logging

ACCESS = "mospay.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else was passed with extra= and belongs in the JSON line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
                .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def setup(config) -> None:
    """Configure the root logger once, from the validated Config."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if config.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.log_level.upper())
    # The access log is INFO: on by default, even when MOSPAY_LOG_LEVEL=WARNING quietens the rest,
    # and switched off only by MOSPAY_ACCESS_LOG=off.
    access = logging.getLogger(ACCESS)
    access.setLevel(logging.INFO if config.access_log else logging.CRITICAL + 1)
