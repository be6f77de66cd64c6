"""Load the exported model (model.onnx on onnxruntime or model.keras on Keras), check it is ours, predict with it."""

import gc
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from luckybag.contract import EXPORT_FILES, INPUT_DTYPE, NUM_CLASSES, SIDE
from luckybag.errors import LuckybagError, one_line

Predict = Callable[[np.ndarray], np.ndarray]  # (n, 28, 28) uint8 -> (n, 10) probabilities


class ModelError(LuckybagError):
    """The model or its labels are not an export of this pipeline."""


def runtime_for(model: str | Path | None, runtime: str | None) -> str:
    """The runtime asked for, else the one a ``--model`` file's suffix names (.keras: Keras), else onnxruntime."""
    return runtime or ("keras" if model is not None and Path(model).suffix == ".keras" else "onnx")


def read_label_names(path: Path) -> list[str]:
    """``labels.json``: {"0": name, ..., "9": name} -> the 10 names in class order."""
    if not path.is_file():
        raise ModelError(
            f"{path}: labels file not found; expected the export's labels.json beside the model (or --labels PATH)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: not a JSON labels file ({one_line(err)})") from None
    ten = isinstance(data, dict) and len(data) == NUM_CLASSES
    names = [data.get(str(i)) for i in range(NUM_CLASSES)] if ten else []
    if not ten or not all(isinstance(name, str) and name.strip() for name in names):
        raise ModelError(f'{path}: expected a JSON object mapping "0".."9" to 10 class names')
    names = [name.strip() for name in names]
    if len(set(names)) != NUM_CLASSES:
        raise ModelError(f"{path}: class names repeat; expected 10 distinct names")
    return names


def check_model_file(path: Path, runtime: str) -> None:
    """Cheap checks before a runtime is imported: the file exists and has the format's suffix and envelope."""
    if not path.exists():
        raise ModelError(
            f"{path}: model file not found; expected the export's {EXPORT_FILES[runtime][0]} (or --model PATH)"
        )
    if not path.is_file():
        raise ModelError(f"{path}: not a file; expected a .{runtime} model file")
    if path.suffix != f".{runtime}":
        hint = "the export's model.onnx (or --runtime keras)" if runtime == "onnx" else "a Keras 3 .keras model file"
        raise ModelError(f"{path}: not a .{runtime} file; expected {hint}")
    if runtime == "keras":
        try:
            with zipfile.ZipFile(path) as archive:
                missing = {"config.json", "model.weights.h5"} - set(archive.namelist())
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise ModelError(f"{path}: not a .keras model (not a valid zip archive: {one_line(err)})") from None
        if missing:
            raise ModelError(f"{path}: not a .keras model (the archive has no {', '.join(sorted(missing))})")


def dims(shape: Any) -> Any:
    """A shape as a tuple, None for a free dimension (ONNX names them); anything else (several inputs) as it is."""
    if isinstance(shape, (tuple, list)) and all(d is None or isinstance(d, (int, str)) for d in shape):
        return tuple(d if isinstance(d, int) else None for d in shape)
    return shape


def check_shapes(path: Path, input_shape: Any, output_shape: Any) -> None:
    """Ours takes (None, 28, 28) raw pixels and gives (None, 10) probabilities."""
    if dims(input_shape) != (None, SIDE, SIDE):
        raise ModelError(f"{path}: model input shape {dims(input_shape)}; expected (None, 28, 28) raw pixels")
    if dims(output_shape) != (None, NUM_CLASSES):
        raise ModelError(f"{path}: model output shape {dims(output_shape)}; expected (None, 10) class probabilities")


def load_onnx(path: Path) -> Predict:
    """An onnxruntime session on ``path`` that takes (n, 28, 28) uint8 and gives (n, 10)."""
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
    check_shapes(path, inputs[0].shape, outputs[0].shape)
    if inputs[0].type != f"tensor({INPUT_DTYPE})":
        raise ModelError(f"{path}: model input type {inputs[0].type}; expected tensor({INPUT_DTYPE}) raw pixels")
    return lambda images: session.run(None, {inputs[0].name: images})[0]


def import_keras() -> Any:
    """Keras on KERAS_BACKEND (default JAX); its million long-lived objects frozen out of the GC (1.4 s of 5 s)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    from luckybag.backend import use_backend

    backend = os.environ.get("KERAS_BACKEND", "jax")
    gc.disable()
    try:
        use_backend(backend)  # imports Keras
    except LuckybagError:
        raise ModelError(
            f"--runtime keras: cannot import Keras on {backend} (the pipeline install, requirements.lock); "
            "the serving install runs --runtime onnx"
        ) from None
    finally:
        gc.freeze()
        gc.enable()
    return sys.modules["keras"]


def load_keras(path: Path) -> Predict:
    """An exported .keras model, loaded in Keras' safe mode and checked to be ours."""
    try:
        model = import_keras().models.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # noqa: BLE001 - any failure of a third-party loader means "not ours"
        raise ModelError(f"{path}: cannot load it as a Keras model ({one_line(err)})") from None
    try:
        shapes = model.input_shape, model.output_shape
    except (AttributeError, ValueError) as err:
        raise ModelError(f"{path}: model has no single input and output ({one_line(err)})") from None
    check_shapes(path, *shapes)
    return lambda images: model.predict(images, batch_size=1024, verbose=0)


def predict_probabilities(predict: Predict, images: np.ndarray, path: Path | str = "model") -> np.ndarray:
    """(N, 28, 28) uint8 pixels -> (N, 10) float64 probabilities; refuse outputs that are not probabilities."""
    try:
        probs = np.asarray(predict(np.ascontiguousarray(images, dtype=np.uint8)), dtype=np.float64)
    except Exception as err:  # noqa: BLE001 - a model that cannot run on our input is not ours
        raise ModelError(f"{path}: the model failed on 28x28 pixel input ({one_line(err)})") from None
    sums = probs.sum(axis=1) if probs.ndim == 2 else np.zeros(1)
    in_range = np.all((probs >= -1e-6) & (probs <= 1 + 1e-6))  # False for NaN and infinities too
    if probs.shape != (len(images), NUM_CLASSES) or not in_range or np.abs(sums - 1).max() > 1e-3:
        raise ModelError(
            f"{path}: model outputs are not probabilities (row sums {sums.min():.3g}-{sums.max():.3g}); "
            "expected a softmax output"
        )
    return probs
