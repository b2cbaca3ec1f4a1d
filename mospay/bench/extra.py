"""The benchmark's longer modes: start-up time, memory after 100,000 payments, big-data queries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .stack import ROOT, free_port, wait_ready


def startup_times() -> dict:
    """`python run.py` with its own embedded database: first run (initdb + schema) and warm restart."""
    tmp = Path(tempfile.mkdtemp(prefix="mospay-bench-start-"))
    times = {}
    try:
        for label in ("embedded database, first run", "embedded database, warm"):
            port = free_port()
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "JWT_SECRET_KEY")}
            env.update({"MOSPAY_DATA_DIR": str(tmp / "var"), "MOSPAY_PORT": str(port)})
            with open(tmp / "start.log", "a") as log:
                proc = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT)
                try:
                    times[label] = wait_ready(f"http://127.0.0.1:{port}", timeout=90)
                finally:
                    proc.terminate()
                    proc.wait(30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return times
