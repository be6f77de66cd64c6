"""Every Keras backend trains, evaluates and exports through the real stage scripts, deterministically."""

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from luckybag.pipeline.params import BACKENDS
from tests.conftest import make_mirror, make_project, run, tiny_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("backends")
    project = make_project(base / "project", tiny_params(base / "mirror", make_mirror(base / "mirror")))
    for stage in ("download", "preprocess"):
        run(["python", "-m", f"stages.{stage}"], project)
    return project


def require_backend(backend: str) -> None:
    """torch is an optional extra (`make torch`): skipped without it, unless CI asks for every backend."""
    if backend == "torch" and importlib.util.find_spec("torch") is None:
        if os.environ.get("LUCKYBAG_ALL_BACKENDS") == "1":
            pytest.fail("LUCKYBAG_ALL_BACKENDS=1 but torch is not installed (make torch)")
        pytest.skip("torch is not installed (make torch)")


def set_train(project: Path, **values: object) -> None:
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run_bytes(project: Path) -> dict[str, bytes]:
    """Every metrics file and DVCLive's per-epoch logs."""
    files = [*sorted((project / "metrics").glob("*.json")), *sorted((project / "dvclive/plots").rglob("*.tsv"))]
    return {path.relative_to(project).as_posix(): path.read_bytes() for path in files}


def run_model_stages(project: Path, stages: tuple[str, ...] = ("train", "evaluate", "export", "model_card")) -> None:
    shutil.rmtree(project / "dvclive", ignore_errors=True)  # as DVC would remove the train stage's outs
    for stage in stages:
        run(["python", "-m", f"stages.{stage}"], project)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_trains_evaluates_exports_and_repeats_itself(prepared_project: Path, backend: str) -> None:
    """The second run takes one training step per compiled call instead of 50: the same seed must give the same bytes
    (every metrics file, every per-epoch log) either way. torch's Keras trainer always runs one step per call."""
    require_backend(backend)
    set_train(prepared_project, backend=backend, steps_per_execution=50)
    run_model_stages(prepared_project)
    first = run_bytes(prepared_project)
    assert {name for name in first if name.startswith("metrics/")} == {
        f"metrics/{name}.json" for name in ("train", "eval", "per_class", "export")
    }
    assert len(first) == 4 + 4  # and the four per-epoch logs
    assert json.loads((prepared_project / "timings/train.json").read_text())["backend"] == backend
    evaluation = json.loads((prepared_project / "metrics/eval.json").read_text())
    assert evaluation["test"]["accuracy"] > 0.3  # the tiny bands are learnable; chance is 0.1
    exported = json.loads((prepared_project / "metrics/export.json").read_text())
    assert set(exported) == {"keras", "weights", "savedmodel", "onnx"}
    assert all(result["ok"] for result in exported.values()), exported

    # The repeat trains and evaluates only: the same weights give the same exports, which the first run checked.
    set_train(prepared_project, backend=backend, steps_per_execution=1)
    (prepared_project / "metrics/eval.json").unlink()
    run_model_stages(prepared_project, ("train", "evaluate"))
    assert run_bytes(prepared_project) == first  # same seed, same bytes, 50 steps per call or 1


def test_cnn_trains_evaluates_and_exports_every_format(prepared_project: Path) -> None:
    path = prepared_project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["train"].update(backend="tensorflow", model="cnn", epochs=2)
    params["train"]["cnn"].update(filters=[4, 8], dense_units=16, augment=True)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("train", "evaluate", "export", "model_card", "screen"):  # screen: the CNN's graph cut too
        run(["python", "-m", f"stages.{stage}"], prepared_project)
    assert json.loads((prepared_project / "metrics/train.json").read_text())["params_count"] == (
        40 + 296 + 16 * 7 * 7 * 8 + 16 + 170
    )
    exported = json.loads((prepared_project / "metrics/export.json").read_text())
    assert set(exported) == {"keras", "weights", "savedmodel", "onnx"}
    assert all(result["ok"] for result in exported.values()), exported
    assert json.loads((prepared_project / "models/ood/detector.json").read_text())["feature_dims"] == 16  # Dense(16)
    card = (prepared_project / "models/MODEL_CARD.md").read_text()
    assert "(training only: random mirror, 2-pixel shift) → [Conv2D(4, 3x3) → ReLU] → MaxPool(2) → [Conv2D(8" in card
    assert "early stopping with patience 1 on val_loss" in card
