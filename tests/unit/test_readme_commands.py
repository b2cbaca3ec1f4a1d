"""The shell blocks of README.md and docs/*.md paste as they are: no `[--optional]` or `<placeholder>`
notation, and every MosPay command line is accepted by the parser of the program it runs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache

import pytest

from mospay.__main__ import build_parser
from tests.support import ROOT

SHELL_LANGS = ("bash", "sh", "shell", "console", "powershell")
# A MosPay program and its arguments, up to the end of the command (pipe, &&, ;, ), a redirection or a comment).
MOSPAY_COMMAND = re.compile(r"python3? (run\.py|-m mospay(?:\.bench|\.simulator)?)(?=\s|$)([^|;&)#>]*)")


def shell_blocks(path) -> list[tuple[int, str]]:
    """(line number, logical line) of every fenced shell block; backslash continuations joined."""
    lines, found, lang, pending, start = path.read_text().splitlines(), [], None, "", 0
    for number, line in enumerate(lines, 1):
        fence = re.match(r"\s*```(\w*)", line)
        if fence:
            lang = None if lang is not None else fence.group(1)
            continue
        if lang not in SHELL_LANGS:
            continue
        start = start or number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        found.append((start, pending + line))
        pending, start = "", 0
    return found


def documented_lines():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [pytest.param(line, id=f"{path.name}:{number}") for path in files
            for number, line in shell_blocks(path)]


def without_comment(line: str) -> str:
    """The line up to a shell comment (a # that starts a word outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def test_the_blocks_are_found():
    """A control: the extraction sees README's commands, so the checks below are not vacuous."""
    lines = [p.values[0] for p in documented_lines()]
    assert any("python -m mospay create-service" in line for line in lines)
    assert any("python run.py --demo" in line for line in lines)
    assert sum(1 for line in lines if MOSPAY_COMMAND.search(line)) >= 15


def test_the_checks_refuse_what_a_shell_would_refuse():
    """Controls for the two checks below: README's old prune-logs line and a placeholder fail them."""
    assert re.search(r"\[--?\w", "python -m mospay prune-logs [--days 90]")
    assert placeholder("sudo git clone <your MosPay repository> /opt/mospay")
    with pytest.raises(SystemExit):
        build_parser().parse_args(shlex.split("prune-logs [--days 90]"))


def placeholder(line: str):
    """`<word ...>` used as a value, which the shell reads as a redirection (heredocs excepted)."""
    return re.search(r"(?<![<\w])<(?!<)[A-Za-z][^>]*>", line)


@pytest.mark.parametrize("line", documented_lines())
def test_documented_shell_line_pastes_as_is(line):
    code = without_comment(line)
    assert not re.search(r"\[--?\w", code), f"optional-argument brackets are not shell: {line}"
    assert not placeholder(code), f"a <placeholder> is a shell redirection: {line}"
    assert "…" not in code, f"an ellipsis is not a value: {line}"
    for program, rest in MOSPAY_COMMAND.findall(code):
        args = shlex.split(rest)
        if program == "-m mospay":
            try:
                build_parser().parse_args(args)
            except SystemExit as exc:  # --version and --help exit 0; anything the CLI refuses exits 2
                assert exc.code == 0, f"the CLI refuses: {line}"
        else:
            known = options_of(program)
            unknown = [a.split("=", 1)[0] for a in args if a.startswith("-") and a.split("=", 1)[0] not in known]
            assert not unknown, f"{program} has no option {unknown}: {line}"


@cache
def options_of(program: str) -> frozenset:
    """The options a program's --help lists (run.py, the benchmark and the simulator parse in main())."""
    argv = ["run.py"] if program == "run.py" else program.split()
    result = subprocess.run([sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=True)
    return frozenset(re.findall(r"(?<![\w-])--?[a-z][\w-]*", result.stdout))
