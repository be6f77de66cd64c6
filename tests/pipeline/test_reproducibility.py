"""Interruptions and reruns: killed runs recover, and reruns give byte-identical metrics."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, make_mirror, make_project, run, tiny_params

pytestmark = pytest.mark.slow


def long_params(base: Path) -> dict:
    """Tiny data but enough epochs that training takes a few seconds."""
    params = tiny_params(base / "mirror", make_mirror(base / "mirror", n_train=2000))
    params["train"].update(epochs=25, patience=0)
    return params


def trained_bytes(project: Path) -> dict[str, bytes]:
    """What the train stage wrote: its metrics, every per-epoch log and the checkpoint (reproducible bytes)."""
    files = [project / "metrics/train.json", project / "models/checkpoint.keras"]
    files += sorted((project / "dvclive/plots").rglob("*.tsv"))
    return {path.relative_to(project).as_posix(): path.read_bytes() for path in files}


def wait_for_training(project: Path, proc: subprocess.Popen, min_epochs: int = 3, timeout: float = 300) -> None:
    loss = project / "dvclive/plots/metrics/train/loss.tsv"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("dvc repro ended before it could be killed")
        if loss.exists() and len(loss.read_text().splitlines()) > min_epochs:
            return
        time.sleep(0.05)
    raise AssertionError("training did not start in time")


def test_sigkill_during_training_then_rerun_gives_the_uninterrupted_metrics(tmp_path: Path) -> None:
    """Kill `dvc repro` in the middle of training; the rerun trains again and gives the uninterrupted run's bytes.

    (That a rerun of every stage writes the committed bytes again is tests/test_team.py's fresh-clone rerun.)"""
    params = long_params(tmp_path)
    params["export"]["check"] = ["onnx"]  # the reload check is not the subject here
    project = make_project(tmp_path / "project", params)
    run(["dvc", "repro", "train"], project)  # the train stage and what it needs: the rest never sees the kill
    reference = trained_bytes(project)
    # The first run's per-epoch log goes first, so that the wait below sees the new run's epochs.
    shutil.rmtree(project / "dvclive")

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.Popen(
        ["dvc", "repro", "--force", "--single-item", "train"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_training(project, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # dvc and the stage it runs, with no chance to clean up
        proc.wait()
    assert not (project / "metrics/train.json").exists()  # the stage died before writing its metrics
    leftovers = [p.name for p in (project / "models").iterdir() if p.name.startswith(".")]
    assert any(name.startswith(".checkpoint.keras.") and name.endswith(".tmp.keras") for name in leftovers), (
        f"expected the half-written checkpoint under its temporary name, found {leftovers}"
    )
    assert not (project / "models/checkpoint.keras").exists()

    rerun = run(["dvc", "repro", "train"], project)
    assert "Running stage 'train'" in rerun.stdout
    assert trained_bytes(project) == reference
