"""The test set-up itself: CI runs the README's test command, on two xdist workers, and CI never skips for a
missing prerequisite."""

import re

import pytest

from tests.conftest import LONGEST_FIRST, ROOT, run, unavailable


def test_ci_runs_the_readmes_test_command_on_two_workers() -> None:
    (setup_block,) = [
        block
        for block in re.findall(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
        if "make test" in block
    ]
    assert re.search(r"^make test\b", setup_block, re.M)
    ci = (ROOT / ".ci/run").read_text()
    assert re.search(r"^LUCKYBAG_ALL_BACKENDS=1 make test$", ci, re.M)
    for target, extra in (
        ("test", "loadscope --no-loadscope-reorder"),  # make test also prints the 25 slowest
        ("test-fast", 'load -m "not slow and not acceptance"'),
    ):
        dry = run(["make", "-n", "--always-make", target], ROOT).stdout.splitlines()
        pytest_lines = [line for line in dry if " -m pytest " in line]
        durations = " --durations=25" if target == "test" else ""
        assert pytest_lines == [f".venv/bin/python -m pytest -ra{durations} -n 2 --dist {extra}"], dry
    assert all((ROOT / name).is_file() for name in LONGEST_FIRST)
    one = run(["make", "-n", "--always-make", "test-fast", "PYTEST_WORKERS=0"], ROOT).stdout
    assert '.venv/bin/python -m pytest -ra -n 0 -m "not slow and not acceptance"' in one


def test_a_missing_prerequisite_skips_here_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no widget"):
        unavailable("no widget")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no widget .CI=true"):
        unavailable("no widget")
