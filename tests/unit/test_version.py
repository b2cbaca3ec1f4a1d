"""The version a build reports: `python -m mospay --version`, the same string as mospay.__version__."""

import re

import pytest

from mospay import __main__ as cli, __version__


def test_version_is_a_pep440_development_release_after_0_1_0():
    assert re.fullmatch(r"0\.2\.0(\.dev\d+|a\d+|b\d+|rc\d+)?", __version__)


def test_cli_prints_the_version_and_exits_zero(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"MosPay {__version__}"
