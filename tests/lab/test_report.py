"""The pull-request report (`luckybag report`) between two commits of a tiny project, and its workflow."""

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, assert_picture, reproduced_project, run

PYTHON = sys.executable


def row(report: str, key: str) -> list[str]:
    """The cells of the row of DVC's params or metrics table whose second cell (Param, Metric) is ``key``."""
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) > 1 and cells[1] == key:
            return cells
    raise AssertionError(f"no row {key} in:\n{report}")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two commits of a reproduced tiny project that differ in train.dropout only (0.3, then 0)."""
    project = reproduced_project(tmp_path_factory.mktemp("report"), "dropout 0.3")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["dropout"] = 0.0
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "dropout 0"], project)
    return project


def check_report(project: Path, report: str, new_label: str) -> None:
    assert report.startswith(f"# Pipeline report: {new_label} vs HEAD~1 (")
    assert "## Params (1 changed)" in report
    # DVC's own tables (`dvc params diff --md`, `dvc metrics diff --all --md`): Path, key, old, new (, Change).
    assert row(report, "train.dropout") == ["params.yaml", "train.dropout", "0.3", "0.0"]
    _, _, old, new, change = row(report, "val.loss")
    assert float(change) != 0 and float(change) == pytest.approx(float(new) - float(old), abs=2e-5)
    assert row(report, "params_count") == ["metrics/train.json", "params_count", "79510", "79510", "0"]  # --all
    # Changed metrics first; the unchanged ones (here the export checks) folded away below them.
    changed, folded = report.split("## Metrics (", 1)[1].split("## Plots")[0].split("<details>")
    assert "| val.loss |" in changed and "| params_count |" in folded
    # The shared tiny project reloads the ONNX export only (export.check [onnx], tests/conftest.py).
    assert "| onnx.ok | true | true | — |" in folded  # a boolean as it is
    max_abs_diff = row(report, "onnx.max_abs_diff")[2]
    assert float(max_abs_diff) < 1e-4 and float(max_abs_diff) != 0  # a tiny value as it is, not 0.0
    assert f"**val.accuracy {row(report, 'val.accuracy')[2]} → " in report  # the headline
    assert "Warning" not in report  # the workspace is reproduced
    for name in ("loss", "confusion"):
        for side in ("base", "new"):
            assert f"](pr-assets/{side}-{name}.png)" in report
            assert_picture(project / f"reports/pr-assets/{side}-{name}.png")
    # Different dropout, different training curves.
    assets = project / "reports/pr-assets"
    assert (assets / "base-loss.png").read_bytes() != (assets / "new-loss.png").read_bytes()


def without_reports(project: Path) -> Path:
    """The project with no reports/ (an earlier test's report and pictures must not pass for this one's)."""
    shutil.rmtree(project / "reports", ignore_errors=True)
    return project


@pytest.mark.slow
def test_report_between_two_commits(project: Path) -> None:
    without_reports(project)
    done = run([PYTHON, "-m", "luckybag", "report", "--base", "HEAD~1", "--rev", "HEAD"], project)
    assert done.stdout.strip() == "report: reports/pr.md"
    head = run(["git", "rev-parse", "--short=7", "HEAD"], project).stdout.strip()
    check_report(project, (project / "reports/pr.md").read_text(), f"HEAD ({head})")


@pytest.mark.slow
def test_report_of_the_workspace(project: Path) -> None:
    without_reports(project)
    run([PYTHON, "-m", "luckybag", "report", "--base", "HEAD~1", "--out", "reports/ws.md"], project)
    check_report(project, (project / "reports/ws.md").read_text(), "workspace")


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--base", "nosuch"], ["--base", "HEAD", "--rev", "nosuch"]])
def test_unknown_rev_is_one_line(project: Path, args: list[str]) -> None:
    done = run([PYTHON, "-m", "luckybag", "report", *args, "--out", "reports/x.md"], project, check=False)
    assert done.returncode == 2
    assert done.stderr == "error: unknown revision 'nosuch' (not a commit in this git repository)\n"
    assert not (project / "reports/x.md").exists()


def test_workflow_reproduces_reports_and_comments() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/pr-report.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert "pull_request" in triggers
    assert workflow["permissions"]["pull-requests"] == "write"
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    checkout = next(step for step in steps if str(step.get("uses", "")).startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    python = next(step for step in steps if str(step.get("uses", "")).startswith("actions/setup-python"))
    assert str(python["with"]["python-version"]) == "3.11"

    runs = [step.get("run", "") for step in steps]
    repro = next(i for i, cmd in enumerate(runs) if cmd.startswith("make repro"))
    report = next(i for i, cmd in enumerate(runs) if cmd == "make report BASE=origin/${{ github.base_ref }}")
    comment = next(i for i, cmd in enumerate(runs) if "gh pr comment" in cmd)
    assert repro < report < comment
    assert "--edit-last --body-file reports/pr.md" in runs[comment]  # behaviour: tests/lab/test_pr_workflow.py
    assert steps[comment]["env"]["PR"] == "${{ github.event.pull_request.number }}"
    assert "GH_TOKEN" in steps[comment]["env"]


@pytest.mark.slow
def test_a_commit_against_itself_is_refused_and_keeps_the_report(project: Path) -> None:
    """On a fresh clone `--base main --rev HEAD` names one commit twice: say so, write nothing."""
    branch = run(["git", "branch", "--show-current"], project).stdout.strip()
    head = run(["git", "rev-parse", "--short=7", "HEAD"], project).stdout.strip()
    out = project / "reports/same.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("an earlier report\n")
    done = run(
        [PYTHON, "-m", "luckybag", "report", "--base", branch, "--rev", "HEAD", "--out", "reports/same.md"],
        project,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --base {branch} and --rev HEAD are the same commit ({head}): nothing to ")
    assert len(done.stderr.splitlines()) == 1
    assert out.read_text() == "an earlier report\n"
