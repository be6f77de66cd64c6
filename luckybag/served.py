"""The exported model behind the CLI: model.onnx on onnxruntime or model.keras on Keras, checked to be ours."""

from __future__ import annotations

import gc
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from luckybag.errors import LuckybagError
from luckybag.photos import SIDE, one_line

NUM_CLASSES = 10
LABELS_NAME = "labels.json"
RUNTIMES = ("onnx", "keras")
DEFAULT_MODELS = {"onnx": Path("models/model.onnx"), "keras": Path("models/model.keras")}
PREDICT_BATCH = 1024

Predict = Callable[[np.ndarray], np.ndarray]  # (n, 28, 28) uint8 -> (n, 10) probabilities


class ModelError(LuckybagError):
    """The model or its labels are not an export of this pipeline."""

    exit_code = 2


def runtime_for(model: str | None, runtime: str | None) -> str:
    """The runtime asked for, else the one a ``--model`` file's suffix names (.keras: Keras), else onnxruntime."""
    if runtime is not None:
        return runtime
    return "keras" if model is not None and Path(model).suffix == ".keras" else "onnx"


def default_labels(model_path: Path) -> Path:
    return Path(model_path).with_name(LABELS_NAME)


def read_labels(path: Path) -> list[str]:
    """``labels.json``: {"0": name, ..., "9": name} -> the 10 names in class order."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"{path}: labels file not found; expected the export's labels.json beside the model (or --labels PATH)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: not a JSON labels file ({one_line(err)})") from None
    expected_keys = {str(i) for i in range(NUM_CLASSES)}
    if (
        not isinstance(data, dict)
        or set(data) != expected_keys
        or not all(isinstance(v, str) and v.strip() for v in data.values())
    ):
        raise ModelError(f'{path}: expected a JSON object mapping "0".."9" to 10 class names')
    names = [data[str(i)].strip() for i in range(NUM_CLASSES)]
    if len(set(names)) != NUM_CLASSES:
        raise ModelError(f"{path}: class names repeat; expected 10 distinct names")
    return names


def check_model_file(path: Path, runtime: str = "keras") -> None:
    """Cheap checks before a runtime is imported: the file exists and has the format's suffix and envelope."""
    path = Path(path)
    if not path.exists():
        raise ModelError(
            f"{path}: model file not found; expected the export's {DEFAULT_MODELS[runtime].name} (or --model PATH)"
        )
    if not path.is_file():
        raise ModelError(f"{path}: not a file; expected a .{'keras' if runtime == 'keras' else 'onnx'} model file")
    if runtime == "onnx":
        if path.suffix != ".onnx":
            raise ModelError(f"{path}: not a .onnx file; expected the export's model.onnx (or --runtime keras)")
        return
    if path.suffix != ".keras":
        raise ModelError(f"{path}: not a .keras file; expected a Keras 3 .keras model file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ModelError(f"{path}: not a .keras model (not a valid zip archive: {one_line(err)})") from None
    missing = {"config.json", "model.weights.h5"} - names
    if missing:
        raise ModelError(f"{path}: not a .keras model (the archive has no {', '.join(sorted(missing))})")


# --- onnxruntime ------------------------------------------------------------------------


def _onnx_dims(shape: Any) -> tuple[Any, ...]:
    """ONNX dims: a name or None for a free dimension (shown as None), an int for a fixed one."""
    return tuple(d if isinstance(d, int) else None for d in shape)


def load_onnx(path: Path) -> Predict:
    """An onnxruntime session on ``path`` that takes (n, 28, 28) uint8 and gives (n, 10)."""
    path = Path(path)
    check_model_file(path, "onnx")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its warnings are not the user's business; errors still raise
    # Basic graph optimisations only: the extended ones cost more start-up (~20 ms) than they save on a CLI's batch.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - any failure of a third-party loader means "not ours"
        raise ModelError(f"{path}: cannot load it as an ONNX model ({one_line(err)})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{path}: model has {len(inputs)} inputs and {len(outputs)} outputs; expected one of each")
    source, target = inputs[0], outputs[0]
    input_shape, output_shape = _onnx_dims(source.shape), _onnx_dims(target.shape)
    if input_shape != (None, SIDE, SIDE):
        raise ModelError(f"{path}: model input shape {input_shape}; expected (None, 28, 28) raw pixels")
    if source.type != "tensor(uint8)":
        raise ModelError(f"{path}: model input type {source.type}; expected tensor(uint8) raw pixels")
    if output_shape != (None, NUM_CLASSES):
        raise ModelError(f"{path}: model output shape {output_shape}; expected (None, 10) class probabilities")
    name = source.name
    return lambda images: session.run(None, {name: images})[0]


# --- Keras ------------------------------------------------------------------------------


def _import_keras() -> Any:
    """Import Keras on the JAX backend (unless KERAS_BACKEND says otherwise), lazily.

    Importing Keras and its backend creates about a million long-lived objects; with the
    garbage collector paused meanwhile and those objects frozen afterwards, neither the
    import nor the interpreter's exit scans them over and over (measured: 1.4 s of 5 s)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("KERAS_BACKEND", "jax")  # before the first import of Keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import keras
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return keras


def _shape(value: Any) -> Any:
    if isinstance(value, (tuple, list)) and all(v is None or isinstance(v, int) for v in value):
        return tuple(value)
    return value


def check_contract(model: Any, path: Path) -> None:
    """Ours takes (None, 28, 28) raw pixels and gives (None, 10) probabilities."""
    try:
        input_shape, output_shape = _shape(model.input_shape), _shape(model.output_shape)
    except (AttributeError, ValueError) as err:
        raise ModelError(f"{path}: model has no single input and output ({one_line(err)})") from None
    if input_shape != (None, SIDE, SIDE):
        raise ModelError(f"{path}: model input shape {input_shape}; expected (None, 28, 28) raw pixels")
    if output_shape != (None, NUM_CLASSES):
        raise ModelError(f"{path}: model output shape {output_shape}; expected (None, 10) class probabilities")


def load_model(path: Path) -> Any:
    """Load an exported model in Keras' safe mode and check it is one of ours."""
    path = Path(path)
    check_model_file(path, "keras")
    keras = _import_keras()
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # noqa: BLE001 - any failure of a third-party loader means "not ours"
        raise ModelError(f"{path}: cannot load it as a Keras model ({one_line(err)})") from None
    check_contract(model, path)
    return model


def load_keras(path: Path) -> Predict:
    model = load_model(path)
    return lambda images: model.predict(images, batch_size=PREDICT_BATCH, verbose=0)


def load(path: Path, runtime: str) -> Predict:
    return load_onnx(path) if runtime == "onnx" else load_keras(path)


# --- predicting -------------------------------------------------------------------------


def predict_probabilities(predict: Predict, images: np.ndarray, path: Path | str = "model") -> np.ndarray:
    """(N, 28, 28) uint8 pixels -> (N, 10) float64 probabilities; refuse outputs that are not probabilities."""
    if len(images) == 0:
        return np.zeros((0, NUM_CLASSES))
    try:
        probs = np.asarray(predict(np.ascontiguousarray(images, dtype=np.uint8)), dtype=np.float64)
    except LuckybagError:
        raise
    except Exception as err:  # noqa: BLE001 - a model that cannot run on our input is not ours
        raise ModelError(f"{path}: the model failed on 28x28 pixel input ({one_line(err)})") from None
    sums = probs.sum(axis=1) if probs.ndim == 2 else np.zeros(1)
    if (
        probs.shape != (len(images), NUM_CLASSES)
        or not np.all(np.isfinite(probs))
        or probs.min() < -1e-6
        or probs.max() > 1 + 1e-6
        or np.abs(sums - 1).max() > 1e-3
    ):
        raise ModelError(
            f"{path}: model outputs are not probabilities (row sums {sums.min():.3g}-{sums.max():.3g}); "
            "expected a softmax output"
        )
    return probs
