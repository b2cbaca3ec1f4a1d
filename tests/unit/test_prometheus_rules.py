"""deploy/prometheus-alerts.yml: promtool accepts it, it names only series MosPay's /metrics exposes, and
it covers every metric MosPay's own alert rules have."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mospay import alert_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus-alerts.yml"


def test_promtool_checks_the_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`; .ci/run installs it)")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout


def test_every_series_named_is_one_mospay_exposes_and_every_metric_is_covered():
    text = RULES.read_text()
    source = "".join(p.read_text() for p in (ROOT / "mospay").rglob("*.py"))
    names = {re.sub(r"_(bucket|count|sum)$", "", n) for n in re.findall(r"\bmospay_[a-z_]+", text)}
    assert names and all(f'"{name}"' in source for name in names), names
    for metric in alert_rules.METRICS:
        assert f"# {metric}" in text, f"no Prometheus rule for {metric}"
