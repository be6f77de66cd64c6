"""The export formats (luckybag.pipeline.exports.FORMATS) and the reload check's spawned processes
(luckybag.pipeline.reload) on a real export of a tiny model.

The export is tests/conftest.py's ``export_dir``: written once per session by the library's own code on
TensorFlow, as the export stage does, with the served model's own probabilities for the images the check predicts.
"""

import shutil
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import yaml

from luckybag.contract import EXPORT_FILES
from luckybag.pipeline import exports, reload
from luckybag.pipeline.params import ExportFormat, ParamsError, load_params
from tests.conftest import ROOT

ALL = ["keras", "weights", "savedmodel", "onnx"]


def exported_files(directory: Path, kinds: list[str]) -> dict[str, list[Path]]:
    return {kind: files for kind, files in exports.files(directory).items() if kind in kinds}


def test_one_record_per_format_and_params_allow_exactly_those() -> None:
    assert list(exports.FORMATS) == list(EXPORT_FILES) == list(get_args(ExportFormat))


@pytest.mark.slow
def test_every_format_reloads_in_its_runtime_and_matches(export_dir: Path) -> None:
    with reload.Reloads(exported_files(export_dir, ALL), export_dir / "test.npz") as reloads:
        assert reloads.running() == ["keras", "tensorflow", "onnxruntime"]  # one process per runtime, at once
        results = reloads.finish()
    reference = np.load(export_dir / "reference.npy")
    assert sorted(results) == sorted(ALL)
    for kind, (probs, seconds) in results.items():
        assert probs.shape == reference.shape == (150, 10)
        assert reload.compare(reference, probs, 1e-5)["ok"], kind
        assert set(seconds) == {"import_seconds", "load_seconds"}


@pytest.mark.slow
def test_a_process_that_fails_names_the_file(export_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "export"
    shutil.copytree(export_dir, broken)
    shutil.rmtree(broken / "savedmodel")
    (broken / "savedmodel").mkdir()
    files = exported_files(broken, ["savedmodel"])
    with reload.Reloads(files, broken / "test.npz") as reloads, pytest.raises(reload.ReloadError) as err:
        reloads.finish()
    message = str(err.value)
    assert message.startswith(f"{broken / 'savedmodel'}: reloading with tensorflow failed: ")
    assert len(message) > len(f"{broken / 'savedmodel'}: reloading with tensorflow failed: ")
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.slow
def test_a_process_that_dies_is_named_by_its_exit_status(export_dir: Path) -> None:
    with reload.Reloads(exported_files(export_dir, ["onnx"]), export_dir / "test.npz") as reloads:
        reloads._processes["onnxruntime"].kill()
        with pytest.raises(reload.ReloadError, match=r"model.onnx: reloading with onnxruntime failed: exit status -9"):
            reloads.finish()


@pytest.mark.slow
def test_only_the_formats_asked_for_are_reloaded(export_dir: Path) -> None:
    with reload.Reloads(exported_files(export_dir, ["onnx"]), export_dir / "test.npz") as reloads:
        assert reloads.running() == ["onnxruntime"]
        assert list(reloads.finish()) == ["onnx"]


@pytest.mark.slow
def test_a_broken_file_fails_with_one_line_naming_it(export_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "export"
    shutil.copytree(export_dir, broken)
    (broken / "model.keras").write_bytes(b"not a keras archive")
    files = exported_files(broken, ["keras", "weights"])
    with reload.Reloads(files, broken / "test.npz") as reloads, pytest.raises(reload.ReloadError) as err:
        reloads.finish()
    message = str(err.value)
    assert message.startswith(f"{broken / 'model.keras'}: reloading with keras (jax) failed: ")
    assert "\n" not in message and "Traceback" not in message


def test_leaving_without_finishing_stops_the_processes(tmp_path: Path) -> None:
    """What happens when the export itself fails: the waiting processes must not outlive the stage."""
    np.savez(tmp_path / "test.npz", images=np.zeros((2, 28, 28), np.uint8))
    with reload.Reloads(exported_files(tmp_path, ["onnx"]), tmp_path / "test.npz") as reloads:
        assert reloads.running() == ["onnxruntime"]
    assert reloads.running() == []


def test_weights_are_checked_with_their_architecture() -> None:
    assert exported_files(Path("models"), ["weights", "onnx"]) == {
        "weights": [Path("models/model.weights.h5"), Path("models/architecture.json")],
        "onnx": [Path("models/model.onnx")],
    }


def test_compare_flags_a_wrong_argmax_a_difference_and_a_wrong_shape() -> None:
    reference = np.array([[0.7, 0.3], [0.4, 0.6]], np.float32)
    assert reload.compare(reference, reference + 1e-7, 1e-5)["ok"]
    assert not reload.compare(reference, reference + 1e-4, 1e-5)["ok"]
    assert not reload.compare(reference, reference[:, ::-1], 1.0)["ok"]
    assert not reload.compare(reference, reference[:1], 1.0)["ok"]


@pytest.mark.parametrize(("n", "batch"), [(10_000, 2000), (150, 150), (2049, 1025), (1, 1)])
def test_keras_batches_are_equal_where_they_can_be(n: int, batch: int) -> None:
    assert exports._batch_size(n) == batch


@pytest.mark.parametrize(
    ("check", "ok"),
    [
        (["keras", "weights", "savedmodel", "onnx"], True),
        (["onnx"], True),
        ([], True),
        (["pt"], False),
        (["onnx", "onnx"], False),
        ("onnx", False),
        ([1], False),
    ],
)
def test_export_check_param(tmp_path: Path, check: object, ok: bool) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["export"] = {"tolerance": 1e-5, "check": check}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    if ok:
        assert load_params(path).export.check == check
        return
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert str(err.value) == (
        f"params: 'export.check' is {check!r}; expected a list of distinct formats from keras, weights, "
        "savedmodel, onnx to reload and compare ([]: all are still written, none reloaded)"
    )
