"""The served model (raw pixels in, calibrated probabilities out) and its export formats, the same bytes every run."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from luckybag.contract import CLASS_NAMES, EXPORT_FILES, INPUT_DTYPE, LABELS_FILE, SIDE
from luckybag.errors import LuckybagError
from luckybag.io import atomic_dir, atomic_path, reproducible_keras_archive, write_json, write_text
from luckybag.pipeline.calibration import Calibration


class ExportError(LuckybagError):
    """An exported model does not load or does not predict what the trained model predicts."""


def build_served(model: Any, calibration: Calibration) -> Any:
    """pixels -> trained layers -> logits -> log-softmax -> Dense(diagonal scale, bias) -> softmax, sharing the weights;
    built-in Keras layers only, so that safe-mode loading, SavedModel and ONNX all carry it."""
    import keras

    *body, output = model.layers
    # Augmentation layers are the identity at inference; leaving them out keeps every format simple.
    body = [layer for layer in body if not layer.name.startswith("augment_")]
    if not isinstance(output, keras.layers.Dense) or output.activation.__name__ != "softmax":
        raise ExportError(f"model {model.name!r}: expected a Dense softmax output layer, found {output.name!r}")
    x = pixels = keras.Input(shape=(SIDE, SIDE), dtype=INPUT_DTYPE, name="pixels")
    for layer in body:
        x = layer(x)
    logits = keras.layers.Dense(output.units, name="logits")
    x = logits(x)
    logits.set_weights(output.get_weights())
    x = keras.layers.Activation("log_softmax", name="log_probabilities")(x)
    calibrate = keras.layers.Dense(output.units, name="calibration")
    x = calibrate(x)
    calibrate.set_weights([np.diag(calibration.scale).astype("float32"), calibration.bias.astype("float32")])
    probabilities = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(pixels, probabilities, name=f"{model.name}_calibrated")


Predict = Callable[[np.ndarray], np.ndarray]
BATCH = 2048  # Keras' prediction batch when reloading: larger needs more memory (the CNN), smaller more calls


@dataclass(frozen=True)
class Format:
    """How one export format is written and reloaded; its files (the arguments of both) are EXPORT_FILES[name]."""

    write: Callable[..., None]  # (served model, *its files)
    runtime: str  # the module its reload process imports
    described: str  # the runtime, as metrics/export.json names it
    load: Callable[..., Predict]  # (*its files) -> the reloaded model's predict; runs in the runtime's process


def _write_keras(served: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        served.save(tmp)
        reproducible_keras_archive(tmp)


def _write_weights(served: Any, weights: Path, architecture: Path) -> None:
    with atomic_path(weights, suffix=".weights.h5") as tmp:
        served.save_weights(tmp)
    write_text(architecture, served.to_json())


def _write_savedmodel(served: Any, path: Path) -> None:
    with atomic_dir(path) as tmp, _variables_in_name_order():
        served.export(str(tmp), format="tf_saved_model", verbose=False)
        _reproducible_fingerprint(tmp / "fingerprint.pb")


def _write_onnx(served: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        served.export(str(tmp), format="onnx", verbose=False)


def _batch_size(n: int) -> int:
    """At most BATCH, in equal batches where possible: on JAX each new batch shape is another compilation."""
    batches = -(-n // BATCH)
    return max(1, -(-n // batches))


def _load_keras(path: Path, architecture: Path | None = None) -> Predict:
    """A .keras archive (safe mode, the default), or weights into the model ``architecture`` describes."""
    import keras

    if architecture is None:
        model = keras.models.load_model(str(path), compile=False)
    else:
        model = keras.models.model_from_json(architecture.read_text(encoding="utf-8"))
        model.load_weights(str(path))
    return lambda x: np.asarray(model.predict(x, batch_size=_batch_size(len(x)), verbose=0))


def _load_savedmodel(path: Path) -> Predict:
    import tensorflow as tf  # the SavedModel's own runtime, not Keras

    loaded = tf.saved_model.load(str(path))
    return lambda x: loaded.serve(x).numpy()


def _load_onnx(path: Path) -> Predict:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


# Written in this order, each reloaded by its runtime's process (Keras' is on JAX: luckybag.pipeline.reload).
FORMATS = {
    "keras": Format(_write_keras, "keras", "keras (jax)", _load_keras),
    "weights": Format(_write_weights, "keras", "keras (jax)", _load_keras),
    "savedmodel": Format(_write_savedmodel, "tensorflow", "tensorflow", _load_savedmodel),
    "onnx": Format(_write_onnx, "onnxruntime", "onnxruntime", _load_onnx),
}


def files(out_dir: Path) -> dict[str, list[Path]]:
    """Each format's files in ``out_dir``."""
    return {name: [out_dir / file for file in names] for name, names in EXPORT_FILES.items()}


def save_all(served: Any, out_dir: Path) -> dict[str, list[Path]]:
    """Write every format of ``served`` and the labels into ``out_dir``, each whole or not at all, the same bytes
    every run; return each format's files."""
    paths = files(out_dir)
    for name, export_format in FORMATS.items():
        export_format.write(served, *paths[name])
    write_json(out_dir / LABELS_FILE, {str(i): name for i, name in enumerate(CLASS_NAMES)})
    return paths


def _variables_in_name_order() -> Any:
    """List a SavedModel's variables by name, not in tracing order (object ids: varies by process).
    A private Keras function: if it moves, the clean-rerun test says so."""
    from keras.src.export import saved_model_export_archive as archive

    listed = archive._list_variables_used_by_fns

    def in_name_order(fns: Any) -> tuple[list[Any], list[Any]]:
        trainable, non_trainable = listed(fns)
        return sorted(trainable, key=lambda v: v.name), sorted(non_trainable, key=lambda v: v.name)

    return mock.patch.object(archive, "_list_variables_used_by_fns", in_name_order)


def _reproducible_fingerprint(path: Path) -> None:
    """Replace the SavedModel fingerprint's random ``uuid`` (the rest is deterministic) with one from its hashes."""
    from tensorflow.core.protobuf import fingerprint_pb2

    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.ParseFromString(path.read_bytes())
    fingerprint.uuid = str(fingerprint.saved_model_checksum ^ fingerprint.checkpoint_hash)
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))
