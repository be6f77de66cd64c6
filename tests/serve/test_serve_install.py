"""The serving install: a fresh venv with requirements-serve.lock and the project (--no-deps)
answers `luckybag predict` on a real ONNX export, and cannot import TensorFlow, Keras, JAX or torch.

The export is a tiny model written by the library's own export code (tests/conftest.py's ``export_dir``),
with the served model's own probabilities for the images it is asked about.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

HEAVY = ("tensorflow", "keras", "jax", "torch")


def sh(cmd: list[str | Path], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def make_serve_venv(directory: Path) -> Path:
    """``python3.11 -m venv``, the serving lock, then the project itself without its dependencies
    (from a copy, so the build leaves nothing in the checkout)."""
    source = directory / "source"
    shutil.copytree(ROOT / "luckybag", source / "luckybag", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")
    venv = directory / "venv"
    sh(["python3.11", "-m", "venv", venv], directory)
    sh([venv / "bin/python", "-m", "pip", "install", "--quiet", "-r", ROOT / "requirements-serve.lock"], directory)
    sh([venv / "bin/python", "-m", "pip", "install", "--quiet", "--no-deps", source], directory)
    return venv


@pytest.fixture(scope="module")
def serve_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_serve_venv(tmp_path_factory.mktemp("serve"))


def test_the_serve_venv_has_no_deep_learning_framework(serve_venv: Path) -> None:
    found = sh(
        [
            serve_venv / "bin/python",
            "-c",
            f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])",
        ],
        ROOT,
    )
    assert found.stdout.strip() == "[]"
    installed = sh([serve_venv / "bin/python", "-m", "pip", "list", "--format=json"], ROOT).stdout
    names = {package["name"].lower() for package in json.loads(installed)}
    assert {"onnxruntime", "numpy", "pillow", "pyyaml", "luckybag"} <= names
    assert not names & {"tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "torch"}


def test_predict_in_the_serve_venv_gives_the_served_models_probabilities(
    serve_venv: Path, export_dir: Path, tmp_path: Path
) -> None:
    with np.load(export_dir / "test.npz") as data:
        images = data["images"][:5]
    reference = np.load(export_dir / "reference.npy")[:5]
    np.save(tmp_path / "items.npy", images)
    done = sh(
        [
            serve_venv / "bin/luckybag",
            "predict",
            tmp_path / "items.npy",
            "--json",
            "--top-k",
            "10",
            "--model",
            export_dir / "model.onnx",
        ],
        tmp_path,
    )
    records = json.loads(done.stdout)
    assert len(records) == 5
    labels = json.loads((export_dir / "labels.json").read_text())
    probs = np.array([[r["probabilities"][labels[str(i)]] for i in range(10)] for r in records])
    assert np.abs(probs - reference).max() <= 1e-5
    assert [r["top"][0]["class"] for r in records] == [labels[str(i)] for i in reference.argmax(axis=1)]
