"""The CLI on a real export: onnxruntime by default (no Keras, JAX, TensorFlow or torch imported),
the same probabilities and output as ``--runtime keras``, uint8 rounding, and ONNX files that are not ours.

The export is tests/conftest.py's ``export_dir``, built once per session by the library's own export
code (``exports.build_served`` with a temperature ``Calibration``, then ``exports.save_all`` on TensorFlow,
as the export stage does) from a dense model trained for one epoch on tiny learnable data.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from luckybag import cli
from luckybag.serve.inputs import read_inputs, to_pixels
from luckybag.serve.runtime import runtime_for
from luckybag.serve.screening import UNSCREENED
from tests.conftest import ROOT, make_images


def sample_inputs(directory: Path) -> list[Path]:
    """Photos and arrays of the tiny data's classes, with fractional pixels in the float array."""
    images = make_images(np.arange(10), np.random.default_rng(2))
    paths = []
    for c in (0, 4, 9):
        path = directory / f"item{c}.png"
        Image.fromarray(images[c]).save(path)
        paths.append(path)
    big = Image.fromarray(images[6]).resize((300, 300), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (500, 400), 0)
    canvas.paste(big, (120, 40))
    canvas.save(directory / "photo.jpg", quality=90)
    noisy = images.astype(np.float64) + np.random.default_rng(3).uniform(-0.5, 0.5, images.shape)
    np.save(directory / "batch.npy", np.clip(noisy, 0, 255))
    return [*paths, directory / "photo.jpg", directory / "batch.npy"]


def run_cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    """The CLI's status, stdout and stderr, less the one "unscreened" note (these models have no detector)."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    notes = [line for line in err.splitlines() if UNSCREENED in line]
    assert len(notes) <= 1, err
    return status, out, "".join(line + "\n" for line in err.splitlines() if UNSCREENED not in line)


@pytest.mark.slow
def test_onnx_and_keras_runtimes_agree(capsys, export_dir, tmp_path):
    inputs = sample_inputs(tmp_path)
    outputs = {}
    for runtime in ("onnx", "keras"):
        model = export_dir / ("model.onnx" if runtime == "onnx" else "model.keras")
        status, table, err = run_cli(capsys, "predict", *inputs, "--model", model)
        assert status == 0 and err == ""
        status, text, _ = run_cli(capsys, "predict", *inputs, "--json", "--runtime", runtime, "--model", model)
        assert status == 0
        records = json.loads(text)
        outputs[runtime] = (table, records, np.array([list(r["probabilities"].values()) for r in records]))
    assert len(outputs["onnx"][1]) == 4 + 10
    np.testing.assert_allclose(outputs["onnx"][2], outputs["keras"][2], atol=1e-5, rtol=0)
    assert outputs["onnx"][0] == outputs["keras"][0]  # the same printed table
    strip = [{k: v for k, v in r.items() if k not in ("top", "probabilities")} for r in outputs["onnx"][1]]
    assert strip == [{k: v for k, v in r.items() if k not in ("top", "probabilities")} for r in outputs["keras"][1]]


@pytest.mark.slow
def test_default_runtime_is_onnx_and_imports_no_deep_learning_framework(export_dir, tmp_path):
    """`luckybag predict` with no --runtime runs models/model.onnx, importing none of keras/jax/tensorflow/torch."""
    (tmp_path / "models").mkdir()
    for name in ("model.onnx", "labels.json"):
        (tmp_path / "models" / name).write_bytes((export_dir / name).read_bytes())
    Image.fromarray(make_images(np.array([3]), np.random.default_rng(0))[0]).save(tmp_path / "item.png")
    code = (
        "import sys\nfrom luckybag import cli\n"
        "status = cli.main(['predict', 'item.png', '--json'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'jax', 'tensorflow', 'torch'))\n"
        "print('status', status, 'onnxruntime' in sys.modules, heavy, file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stderr.strip().splitlines()[-1] == "status 0 True []", done.stderr
    assert json.loads(done.stdout)[0]["input"] == "item.png"


@pytest.mark.slow
def test_float_pixels_are_rounded_before_the_model(capsys, export_dir, tmp_path):
    """127.9 is 128 to the model, not 127: a float array predicts exactly like its rounded uint8 copy."""
    images = make_images(np.arange(10), np.random.default_rng(4)).astype(np.float64)
    fractional = np.clip(images + 0.9, 0, 255) * (images > 100) + images * (images <= 100)
    np.testing.assert_array_equal(to_pixels(np.array([127.9, 127.4, -0.3, 255.2, 0.5, 1.5])), [128, 127, 0, 255, 0, 2])
    np.save(tmp_path / "float.npy", fractional)
    np.save(tmp_path / "rounded.npy", np.rint(fractional).astype(np.uint8))
    np.save(tmp_path / "floored.npy", np.floor(fractional).astype(np.uint8))
    probs = {}
    for name in ("float", "rounded", "floored"):
        status, out, _ = run_cli(
            capsys, "predict", tmp_path / f"{name}.npy", "--json", "--model", export_dir / "model.onnx"
        )
        assert status == 0
        probs[name] = np.array([list(r["probabilities"].values()) for r in json.loads(out)])
    np.testing.assert_array_equal(probs["float"], probs["rounded"])
    assert np.abs(probs["float"] - probs["floored"]).max() > 1e-6


def test_resized_photos_are_uint8_when_they_reach_the_model(tmp_path):
    Image.fromarray(make_images(np.array([5]), np.random.default_rng(0))[0]).resize((97, 61)).save(tmp_path / "p.png")
    inputs = read_inputs([tmp_path / "p.png"])
    assert inputs.batch().dtype == np.uint8 and inputs.batch().shape == (1, 28, 28)


# --- ONNX files that are not ours --------------------------------------------------------


def onnx_model(path: Path, side: int = 28, dtype: str = "uint8", classes: int = 10, softmax: bool = True) -> Path:
    """A small ONNX graph: pixels -> float -> flatten -> matmul -> (softmax)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = {"uint8": TensorProto.UINT8, "float": TensorProto.FLOAT}[dtype]
    weights = numpy_helper.from_array(
        np.random.default_rng(0).normal(0, 0.01, (side * side, classes)).astype(np.float32), "w"
    )
    shape = numpy_helper.from_array(np.array([-1, side * side], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Cast", ["pixels"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["x", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits"] if softmax else ["out"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["out"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "not_ours",
        [helper.make_tensor_value_info("pixels", elem, ["n", side, side])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", classes])],
        [weights, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    (path.parent / "labels.json").write_text(json.dumps({str(i): f"class {i}" for i in range(10)}))
    return path


def test_a_handmade_onnx_model_with_our_contract_is_accepted(capsys, tmp_path):
    path = onnx_model(tmp_path / "ok" / "model.onnx")
    Image.fromarray(make_images(np.array([1]), np.random.default_rng(0))[0]).save(tmp_path / "item.png")
    status, out, err = run_cli(capsys, "predict", tmp_path / "item.png", "--json", "--model", path)
    assert status == 0 and err == ""
    assert sum(json.loads(out)[0]["probabilities"].values()) == pytest.approx(1, abs=1e-5)


@pytest.mark.slow
def test_onnx_files_that_are_not_ours_are_refused(capsys, export_dir, tmp_path):
    text = tmp_path / "text" / "model.onnx"
    text.parent.mkdir()
    text.write_text("I am not a model\n")
    (text.parent / "labels.json").write_bytes((export_dir / "labels.json").read_bytes())
    nolabels = tmp_path / "nolabels" / "model.onnx"
    nolabels.parent.mkdir()
    nolabels.write_bytes((export_dir / "model.onnx").read_bytes())
    cases = {
        "text renamed model.onnx": (text, "cannot load it as an ONNX model"),
        "not .onnx": (export_dir / "labels.json", "not a .onnx file"),
        "missing": (tmp_path / "nowhere" / "model.onnx", "model file not found"),
        "missing labels": (nolabels, "labels file not found"),
        "wrong input shape": (
            onnx_model(tmp_path / "big" / "model.onnx", side=32),
            "input shape (None, 32, 32); expected (None, 28, 28)",
        ),
        "float input": (
            onnx_model(tmp_path / "float" / "model.onnx", dtype="float"),
            "input type tensor(float); expected tensor(uint8)",
        ),
        "wrong output": (
            onnx_model(tmp_path / "five" / "model.onnx", classes=5),
            "output shape (None, 5); expected (None, 10)",
        ),
        "logits": (onnx_model(tmp_path / "logits" / "model.onnx", softmax=False), "not probabilities"),
    }
    image = tmp_path / "item.png"
    Image.fromarray(make_images(np.array([2]), np.random.default_rng(0))[0]).save(image)
    for name, (model, phrase) in cases.items():
        status, out, err = run_cli(capsys, "predict", image, "--runtime", "onnx", "--model", model)
        lines = err.splitlines()
        assert status == 2 and out == "", name
        assert len(lines) == 1 and lines[0].startswith("error: ") and phrase in lines[0], (name, lines)
        assert str(model.parent) in lines[0], (name, lines)


def test_runtime_follows_the_model_suffix():
    assert runtime_for(None, None) == "onnx"
    assert runtime_for("x/model.keras", None) == "keras"
    assert runtime_for("x/model.onnx", None) == "onnx"
    assert runtime_for("x/model.keras", "onnx") == "onnx"
