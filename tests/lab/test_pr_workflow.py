"""The PR workflow's comment step, run with a stand-in `gh`: one comment updated per push; forks get the summary."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

# A stand-in gh: logs its arguments; fails `--edit-last` when there is no comment yet, everything when told to.
FAKE_GH = """#!/bin/bash
echo "$*" >> "$GH_LOG"
[ -n "$GH_FAIL_ALL" ] && exit 1
[[ "$*" == *--edit-last* && ! -e "$GH_COMMENTED" ]] && exit 1
touch "$GH_COMMENTED"
"""


def comment_step() -> dict:
    workflow = yaml.safe_load((ROOT / ".github/workflows/pr-report.yml").read_text())
    (job,) = workflow["jobs"].values()
    return next(step for step in job["steps"] if "gh pr comment" in step.get("run", ""))


def run_step(tmp_path: Path, fork: bool, fail_all: bool = False) -> tuple[list[str], str]:
    """Run the step's script in a workspace holding reports/pr.md; return gh's calls and the summary."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    gh = tmp_path / "bin/gh"
    gh.write_text(FAKE_GH)
    gh.chmod(0o755)
    (tmp_path / "reports").mkdir(exist_ok=True)
    (tmp_path / "reports/pr.md").write_text("# Pipeline report\n")
    log, summary = tmp_path / "gh.log", tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PR": "7",
        "FORK": "true" if fork else "false",
        "GH_LOG": str(log),
        "GH_COMMENTED": str(tmp_path / "commented"),
        "GITHUB_STEP_SUMMARY": str(summary),
        **({"GH_FAIL_ALL": "1"} if fail_all else {}),
    }
    subprocess.run(["bash", "-e", "-c", comment_step()["run"]], cwd=tmp_path, env=env, check=True)
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls, summary.read_text() if summary.exists() else ""


EDIT = "pr comment 7 --edit-last --body-file reports/pr.md"
CREATE = "pr comment 7 --body-file reports/pr.md"


def test_first_push_creates_the_comment_later_pushes_edit_it(tmp_path: Path) -> None:
    assert run_step(tmp_path, fork=False) == ([EDIT, CREATE], "")
    assert run_step(tmp_path, fork=False) == ([EDIT], "")


@pytest.mark.parametrize(("fork", "fail_all"), [(True, False), (False, True)], ids=["fork", "comment-fails"])
def test_a_fork_or_a_failed_comment_goes_to_the_summary(tmp_path: Path, fork: bool, fail_all: bool) -> None:
    calls, summary = run_step(tmp_path, fork=fork, fail_all=fail_all)
    assert calls == ([] if fork else [EDIT, CREATE])  # a fork's read-only token is not even tried
    assert summary == "# Pipeline report\n"
