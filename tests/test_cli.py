"""The one ``luckybag`` command: every sub-command, its help with an example, one error handler."""

import subprocess
import sys
from pathlib import Path

import pytest

from luckybag import cli
from luckybag.errors import LuckybagError

NAMES = list(cli.COMMANDS)


def test_every_tool_is_a_sub_command() -> None:
    assert NAMES == ["predict", "bag", "check-params", "grid", "search", "report", "experiments-report"]


@pytest.mark.parametrize("name", NAMES)
def test_help_shows_an_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert f"example:\n  luckybag {name}" in out


def test_user_error_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_args: object) -> int:
        raise LuckybagError("params.yaml: train.epochs: 0 is not a whole number >= 1")

    monkeypatch.setitem(cli.COMMANDS, "check-params", (broken, *cli.COMMANDS["check-params"][1:]))
    assert cli.main(["check-params"]) == 2
    err = capsys.readouterr().err
    assert err == "error: params.yaml: train.epochs: 0 is not a whole number >= 1\n"


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "grid", (interrupted, *cli.COMMANDS["grid"][1:]))
    assert cli.main(["grid", "--dry"]) == 130
    assert capsys.readouterr().err == "error: interrupted\n"


def test_bad_top_k_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["predict", "x.png", "--top-k", "11"])
    assert done.value.code == 2
    assert "11 is outside 1-10" in capsys.readouterr().err


def test_help_loads_no_heavy_module() -> None:
    code = (
        "import sys; from luckybag import cli\n"
        "try: cli.main(['predict', '--help'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in ('numpy', 'yaml', 'keras', 'onnxruntime', 'PIL', 'dvc') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_version_is_the_installed_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"luckybag {version('luckybag')}\n"
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert version("luckybag") == pyproject["project"]["version"]
