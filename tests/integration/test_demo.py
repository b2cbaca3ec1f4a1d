"""`python run.py --demo` as README describes it: its simulator table holds for the demo service, and README's
onboarding commands still run on the database the demo filled."""

from __future__ import annotations

import io
import re
import shlex
import sys
from types import SimpleNamespace

from mospay import demo
from mospay.__main__ import main as cli
from tests.support import ROOT
from tests.unit.test_readme_commands import shell_blocks, without_comment

README = ROOT / "README.md"


def seed_demo(db, simulator_url="http://127.0.0.1:9"):
    runtime = SimpleNamespace(db=db, config=SimpleNamespace(secret_key="demo-key-" + "k" * 32))
    return demo.seed(runtime, simulator_url, "http://127.0.0.1:5000")


def demo_deadline(db) -> float:
    row = db.run("SELECT connect_timeout_s + timeout_s AS s FROM services WHERE name = :name", name=demo.DEMO_SERVICE)
    return float(row[0]["s"])


def test_demo_service_gives_up_before_the_simulators_hang_and_trickle_end(db):
    """README: 0002 and 0006 give 202 UNKNOWN with the demo. They do when the demo service's deadline is
    shorter than the demo simulator's hang (which 0006's trickle lasts too: tests/unit/test_simulator.py)."""
    simulator = demo.start_simulator("127.0.0.1", 0)
    try:
        text = seed_demo(db, simulator.url)
        assert demo_deadline(db) == demo.demo_deadline_s() < simulator.server.hang_seconds
    finally:
        simulator.stop()
    assert f"UNKNOWN within {demo.demo_deadline_s():g} s" in text
    # README states the same deadline.
    stated = re.search(r"(\d+) s for the demo's `mtnmomorwa` \((\d+) \+ (\d+) s\)", README.read_text())
    assert stated, "README's simulator table no longer states the demo service's deadline"
    assert float(stated.group(1)) == demo.demo_deadline_s() == float(stated.group(2)) + float(stated.group(3))


def test_demo_restart_restores_the_demo_deadline(db):
    seed_demo(db)
    db.run("UPDATE services SET timeout_s = 60 WHERE name = :name", name=demo.DEMO_SERVICE)
    seed_demo(db)  # a second --demo on the same database
    assert demo_deadline(db) == demo.demo_deadline_s()


def readme_onboarding_block() -> list[str]:
    """The first shell block of README's "Managing without a browser" section, one command a line."""
    text = README.read_text()
    start = text.index("```bash", text.index("## Managing without a browser"))
    first, last = text[:start].count("\n") + 1, text[:text.index("```", start + 7)].count("\n") + 1
    return [without_comment(line).strip() for number, line in shell_blocks(README)
            if first < number < last and line.strip()]


def test_readme_onboarding_commands_run_as_pasted_after_the_demo(db, db_url, monkeypatch, tmp_path, capsys):
    seed_demo(db)
    assert db.run("SELECT name FROM services")[0]["name"] == demo.DEMO_SERVICE  # the demo's data is there
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("MOSPAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("JWT_SECRET_KEY", "j" * 40)
    commands = readme_onboarding_block()
    assert any(c.startswith("python -m mospay create-service") for c in commands), commands  # a control
    for command in commands:
        piped = re.fullmatch(r"echo '([^']*)' \| python -m mospay (.*)", command)
        plain = re.fullmatch(r"python -m mospay (.*)", command)
        assert piped or plain, f"not a CLI line this test knows how to run: {command}"
        monkeypatch.setattr(sys, "stdin", io.StringIO(piped.group(1) + "\n" if piped else ""))
        code = cli(shlex.split((piped or plain).group(2 if piped else 1)))
        assert code == 0, f"{command}: {capsys.readouterr().err}"
    names = {r["name"] for r in db.run("SELECT name FROM services")}
    assert len(names) == 2 and demo.DEMO_SERVICE in names
