"""Working as a team: push results to a DVC remote (a directory, or a real S3 server), pull them
into a fresh clone without retraining, share experiments, fetch the registered model, and rerun
without dirtying the tree."""

import hashlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from luckybag import CLASS_NAMES
from tests.conftest import BIN, CPU_SETTINGS, NUMPY_STAGES, ROOT, reproduced_project, run

pytestmark = pytest.mark.slow

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
ARTIFACT = "fashion-classifier"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def git_push(project: Path, bare: Path) -> None:
    if not bare.exists():
        run(["git", "init", "-q", "--bare", str(bare)], project.parent)
        run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], bare)
        run(["git", "remote", "add", "origin", str(bare)], project)
    run(["git", "push", "-q", "origin", "HEAD:refs/heads/main", "--tags"], project)


def clone(bare: Path, directory: Path) -> Path:
    run(["git", "clone", "-q", str(bare), str(directory)], bare.parent)
    return directory


def assert_nothing_to_do(project: Path) -> None:
    status = run(["dvc", "status"], project).stdout
    assert "Data and pipelines are up to date." in status, status
    repro = run(["dvc", "repro"], project).stdout
    assert "Running stage" not in repro, repro


def predict_one(project: Path, model: Path, labels: Path | None = None) -> dict:
    image = project / "item.npy"
    np.save(image, np.full((28, 28), 200, dtype=np.uint8))
    cmd = ["luckybag", "predict", "--json", "--model", str(model), str(image)]
    if labels is not None:
        cmd += ["--labels", str(labels)]
    return json.loads(run(cmd, project).stdout)


def assert_same_prediction(records: list[dict], reference: list[dict]) -> None:
    """One item, predicted as the origin's model predicts it: the same ranking of class names, the same probabilities."""
    (record,), (expected,) = records, reference
    assert record["top"][0]["class"] in CLASS_NAMES
    assert [t["class"] for t in record["top"]] == [t["class"] for t in expected["top"]]
    assert record["probabilities"].keys() == expected["probabilities"].keys()
    assert record["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Repo A (a reproduced tiny project with the committed .dvc/config, its local remote pointed
    at a temporary directory), the bare git repo it pushes to, and the DVC storage."""
    base = tmp_path_factory.mktemp("team")
    project = reproduced_project(base)
    storage = base / "storage"
    shutil.copy2(ROOT / ".dvc/config", project / ".dvc/config")
    run(["dvc", "remote", "modify", "local", "url", str(storage)], project)
    run(["git", "add", ".dvc/config"], project)
    run(["git", "commit", "-qm", "remote storage"], project)
    bare = base / "origin.git"
    git_push(project, bare)
    run(["dvc", "push"], project)
    return project, bare, storage


@pytest.fixture(scope="module")
def origin_prediction(origin: tuple[Path, Path, Path]) -> list[dict]:
    """What the origin's own Keras model says about the test item."""
    project = origin[0]
    return predict_one(project, project / "models/model.keras")


def test_fresh_clone_pulls_instead_of_retraining(
    origin: tuple[Path, Path, Path], origin_prediction: list[dict], tmp_path: Path
) -> None:
    project, bare, _ = origin
    b = clone(bare, tmp_path / "b")
    assert not (b / "models/model.keras").exists()
    run(["dvc", "pull"], b)
    assert md5(b / "models/model.keras") == md5(project / "models/model.keras")
    assert_nothing_to_do(b)
    assert_same_prediction(predict_one(b, b / "models/model.keras"), origin_prediction)


def test_registered_model_is_fetched_by_name_and_version(origin: tuple[Path, Path, Path], tmp_path: Path) -> None:
    project, bare, _ = origin
    artifacts = yaml.safe_load((project / "dvc.yaml").read_text())["artifacts"]
    assert artifacts[ARTIFACT]["type"] == "model"
    run(["gto", "register", ARTIFACT, "--version", "v1.0.0"], project)
    git_push(project, bare)
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    run(["dvc", "artifacts", "get", str(bare), ARTIFACT, "--rev", "v1.0.0", "-o", str(fetched / "model.onnx")], fetched)
    run(["dvc", "get", str(bare), "models/labels.json", "-o", str(fetched / "labels.json")], fetched)
    assert md5(fetched / "model.onnx") == md5(project / artifacts[ARTIFACT]["path"])
    records = predict_one(fetched, fetched / "model.onnx")
    reference = predict_one(project, project / "models/model.onnx")
    fetched_probs, reference_probs = records[0]["probabilities"], reference[0]["probabilities"]
    assert fetched_probs.keys() == reference_probs.keys()
    assert fetched_probs == pytest.approx(reference_probs, abs=1e-6)


def test_shared_experiments_are_pulled_reported_and_applied(origin: tuple[Path, Path, Path], tmp_path: Path) -> None:
    project, bare, _ = origin
    # One experiment trains (a model to share), the other re-runs only the baseline stage (cheap).
    grid = {"axes": {"change": {"e1": {"train.epochs": 1}, "it4": {"baseline.max_iter": 4}}}}
    (project / "mini-grid.yaml").write_text(yaml.safe_dump(grid))
    run(["git", "add", "mini-grid.yaml"], project)
    run(["git", "commit", "-qm", "a two-experiment grid"], project)
    git_push(project, bare)
    run(["python", "-m", "luckybag", "grid", "--grid", "mini-grid.yaml", "--report", "reports/grid.md"], project)
    run(["dvc", "exp", "push", "--all-commits", "origin"], project)  # what `make grid-push` runs

    b = clone(bare, tmp_path / "b")
    run(["dvc", "exp", "pull", "--all-commits", "origin"], b)  # what `make grid-pull` runs
    run(
        [
            "python",
            "-m",
            "luckybag",
            "grid",
            "--grid",
            "mini-grid.yaml",
            "--report",
            "reports/grid.md",
            "--report-only",
        ],
        b,
    )

    def report(project: Path) -> list[str]:  # all but the line that says when it was written
        return [line for line in (project / "reports/grid.md").read_text().splitlines() if "luckybag grid`" not in line]

    assert "2 of 2 experiments" in "\n".join(report(b))
    assert report(b) == report(project)

    run(["dvc", "exp", "apply", "e1"], b)
    run(["dvc", "pull"], b)
    assert yaml.safe_load((b / "params.yaml").read_text())["train"]["epochs"] == 1
    assert json.loads((b / "metrics/train.json").read_text())["epochs_run"] == 1
    assert_nothing_to_do(b)  # the experiment's model came from the remote: nothing trains here


@pytest.mark.parametrize("cpu", CPU_SETTINGS)
def test_fresh_clone_rerun_leaves_the_tree_clean(origin: tuple[Path, Path, Path], tmp_path: Path, cpu: str) -> None:
    """Every stage rerun on a fresh clone writes the committed bytes (dvc.lock, metrics) again; on another CPU
    (numpy without its AVX-512 kernels) so do the stages whose numbers numpy computes, on the pulled inputs."""
    _, bare, _ = origin
    b = clone(bare, tmp_path / "b")
    if cpu == "native":
        run(["dvc", "repro", "--force"], b)
    else:
        run(["dvc", "pull"], b)
        done = run(["dvc", "repro", "--force", "--single-item", *NUMPY_STAGES], b, env=CPU_SETTINGS[cpu])
        assert sorted(line.split("'")[1] for line in done.stdout.splitlines() if line.startswith("Running stage")) == (
            sorted(NUMPY_STAGES)
        )
    assert run(["git", "status", "--porcelain"], b).stdout == ""


# --- the same round trip through a real S3 server ---------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port, for the duration of the module."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError("moto_server exited at start") from None
                time.sleep(0.2)
        else:
            raise RuntimeError(f"moto_server did not answer on {url}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def use_s3(project: Path, endpoint: str) -> None:
    """What the README tells a team to do: endpoint (and credentials) in .dvc/config.local."""
    run(["dvc", "remote", "modify", "--local", "s3", "endpointurl", endpoint], project)
    run(["dvc", "remote", "default", "--local", "s3"], project)


def test_round_trip_through_an_s3_server(
    origin: tuple[Path, Path, Path],
    origin_prediction: list[dict],
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="luckybag")
    project, bare, _ = origin
    use_s3(project, s3_endpoint)
    try:
        run(["dvc", "push"], project)
    finally:
        (project / ".dvc/config.local").unlink()
    listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="luckybag", Prefix="dvc/")
    assert listed["KeyCount"] > 0

    b = clone(bare, tmp_path / "b")
    use_s3(b, s3_endpoint)
    assert "s3" in run(["dvc", "remote", "default"], b).stdout
    run(["dvc", "pull"], b)
    assert md5(b / "models/model.keras") == md5(project / "models/model.keras")
    assert_nothing_to_do(b)
    assert_same_prediction(predict_one(b, b / "models/model.keras"), origin_prediction)


def test_ci_reproduces_by_pulling(origin: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The PR workflow's own reproduce command, on a fresh clone with the remote: nothing recomputes."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/pr-report.yml").read_text())
    (command,) = [
        s["run"] for s in workflow["jobs"]["report"]["steps"] if s.get("name", "").startswith("Reproduce, pulling")
    ]
    _, bare, _ = origin
    b = clone(bare, tmp_path / "b")
    done = run(command.replace(".venv/bin/", "").split(), b)
    assert "Running stage" not in done.stdout, done.stdout
    assert "didn't change, skipping" in done.stdout  # every stage was checked, none recomputed


def make_push(project: Path) -> subprocess.CompletedProcess:
    """`make push` with this venv (already installed: -o keeps make from re-installing it)."""
    venv = BIN.parent
    return run(["make", "-f", str(ROOT / "Makefile"), "-o", f"{venv}/.installed", "push", f"VENV={venv}"], project)


def test_make_push_says_when_the_workspace_is_not_the_commit(origin: tuple[Path, Path, Path]) -> None:
    project = origin[0]
    assert "warning" not in make_push(project).stderr
    summary = project / "models/summary.txt"
    summary.write_text(summary.read_text() + "edited\n")
    try:
        warned = [line for line in make_push(project).stderr.splitlines() if line.startswith("warning:")]
    finally:
        run(["git", "checkout", "models/summary.txt"], project)
    assert warned == [
        "warning: the workspace's outputs or dvc.lock differ from the committed dvc.lock "
        "(see `dvc status`, `git diff dvc.lock`): pushing the workspace's, not the commit's"
    ]
