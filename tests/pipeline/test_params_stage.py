"""The check-params stage: a bad value stops `dvc exp run` before DVC deletes any stage's outputs."""

import hashlib
from pathlib import Path

import pytest

from tests.conftest import reproduced_project, run, stages_ran

pytestmark = pytest.mark.slow

SKIP = (".git", ".dvc")


def snapshot(project: Path) -> dict[str, str]:
    """SHA-256 of every file in the workspace but git's and DVC's own (outputs, code, dvc.lock)."""
    return {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(project.rglob("*"))
        if path.is_file() and path.relative_to(project).parts[0] not in SKIP
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reproduced_project(tmp_path_factory.mktemp("params-stage"))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("+train.dropuot=0.2", "error: params: unknown key 'train.dropuot'"),  # DVC's own hint for a new key
        ("train.dropout=1.5", "error: params: 'train.dropout' is 1.5; expected a rate in [0, 1)"),
    ],
)
def test_a_bad_value_in_a_workspace_experiment_keeps_every_output(project: Path, setting: str, message: str) -> None:
    before = snapshot(project)
    assert "models/checkpoint.keras" in before and "metrics/train.json" in before and "data/params.ok" in before

    done = run(["dvc", "exp", "run", "-S", setting], project, check=False)
    assert done.returncode != 0
    assert message in done.stderr
    assert stages_ran(done.stdout) == ["check-params"]

    after = snapshot(project)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert changed in ([], ["params.yaml"])  # DVC leaves its -S edit in params.yaml
    run(["git", "checkout", "params.yaml"], project)
    assert run(["dvc", "status"], project).stdout.strip() == "Data and pipelines are up to date."


def test_a_params_change_reruns_the_check_and_only_the_stages_that_read_it(project: Path) -> None:
    done = run(["dvc", "exp", "run", "--temp", "-n", "tolerance", "-S", "export.tolerance=0.0001"], project)
    assert stages_ran(done.stdout) == ["check-params", "export"]
