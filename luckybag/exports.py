"""The served model and its export formats, each checked by its own runtime in a fresh process.

The served model takes raw 28x28 uint8 pixels (scaling inside) and returns calibrated
probabilities: the trained network with its softmax output split into logits, a
log-softmax, the calibration's per-class scale and bias (a Dense layer with a diagonal
kernel; one scale 1/T for temperature scaling) and a softmax, all built-in Keras layers so
that safe-mode loading, TensorFlow SavedModel and ONNX all carry it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from luckybag import CLASS_NAMES
from luckybag.calibration import Calibration
from luckybag.errors import LuckybagError
from luckybag.io import atomic_dir, atomic_path, reproducible_keras_archive, write_json

FILES = {
    "keras": "model.keras",
    "weights": "model.weights.h5",
    "architecture": "architecture.json",
    "savedmodel": "savedmodel",
    "onnx": "model.onnx",
    "labels": "labels.json",
}
# Which runtime reloads which format in the check, and the Keras backend it runs on.
RUNTIMES = {"keras": "keras (jax)", "weights": "keras (jax)", "savedmodel": "tensorflow", "onnx": "onnxruntime"}


class ExportError(LuckybagError):
    """An exported model does not load or does not predict what the trained model predicts."""


def build_served(model: Any, calibration: Calibration) -> Any:
    """pixels (uint8) -> the trained layers -> logits -> log-softmax -> scale * x + bias -> softmax,
    sharing the trained weights: the probabilities ``calibration.apply`` gives for the model's own."""
    import keras

    *body, output = model.layers
    # Augmentation layers are the identity at inference; leaving them out keeps every format simple.
    body = [layer for layer in body if not layer.name.startswith("augment_")]
    if not isinstance(output, keras.layers.Dense) or output.activation.__name__ != "softmax":
        raise ExportError(f"model {model.name!r}: expected a Dense softmax output layer, found {output.name!r}")
    pixels = keras.Input(shape=(28, 28), dtype="uint8", name="pixels")
    x = pixels
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


def save_all(served: Any, out_dir: Path) -> dict[str, Path]:
    """Write every format of ``served`` into ``out_dir``, each file whole or not at all."""
    paths = {kind: out_dir / name for kind, name in FILES.items()}
    with atomic_path(paths["keras"]) as tmp:
        served.save(tmp)
        reproducible_keras_archive(tmp)
    with atomic_path(paths["weights"], suffix=".weights.h5") as tmp:
        served.save_weights(tmp)
    with atomic_path(paths["architecture"]) as tmp:
        tmp.write_text(served.to_json(), encoding="utf-8")
    with atomic_dir(paths["savedmodel"]) as tmp:
        served.export(str(tmp), format="tf_saved_model", verbose=False)
        _reproducible_fingerprint(tmp / "fingerprint.pb")
    with atomic_path(paths["onnx"]) as tmp:
        served.export(str(tmp), format="onnx", verbose=False)
    write_json(paths["labels"], {str(i): name for i, name in enumerate(CLASS_NAMES)})
    return paths


def _reproducible_fingerprint(path: Path) -> None:
    """SavedModel's fingerprint holds a random ``uuid`` (everything else in the directory is
    deterministic); derive it from the fingerprint's own content hashes instead, so identical
    models give identical bytes."""
    from tensorflow.core.protobuf import fingerprint_pb2

    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.ParseFromString(path.read_bytes())
    fingerprint.uuid = str(fingerprint.saved_model_checksum ^ fingerprint.checkpoint_hash)
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))


# --- loaders, one per runtime; each imports only its own runtime -------------------------


def _load_keras(out_dir: Path) -> Callable[[np.ndarray], np.ndarray]:
    import keras

    model = keras.models.load_model(out_dir / FILES["keras"], compile=False)  # safe_mode on by default
    return lambda x: np.asarray(model.predict(x, batch_size=1024, verbose=0))


def _load_weights(out_dir: Path) -> Callable[[np.ndarray], np.ndarray]:
    import keras

    model = keras.models.model_from_json((out_dir / FILES["architecture"]).read_text(encoding="utf-8"))
    model.load_weights(out_dir / FILES["weights"])
    return lambda x: np.asarray(model.predict(x, batch_size=1024, verbose=0))


def _load_savedmodel(out_dir: Path) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf  # the SavedModel's own runtime, not Keras

    loaded = tf.saved_model.load(str(out_dir / FILES["savedmodel"]))
    return lambda x: loaded.serve(x).numpy()


def _load_onnx(out_dir: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out_dir / FILES["onnx"]), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


LOADERS: dict[str, Callable[[Path], Callable[[np.ndarray], np.ndarray]]] = {
    "keras": _load_keras,
    "weights": _load_weights,
    "savedmodel": _load_savedmodel,
    "onnx": _load_onnx,
}


def reload_in_fresh_process(kind: str, out_dir: Path, images_path: Path) -> tuple[np.ndarray, float]:
    """Load ``kind`` in a new Python process with only its runtime; return (probabilities, load seconds)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    where = f"{out_dir / FILES[kind]}: reloading with {RUNTIMES[kind]}"
    with tempfile.TemporaryDirectory(prefix="luckybag-reload-") as tmp:
        probs_path = Path(tmp) / "probs.npy"
        cmd = [sys.executable, "-m", "luckybag.exports", kind, str(out_dir), str(images_path), str(probs_path)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ExportError(f"{where} failed: {last}")
        try:
            load_seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["load_seconds"])
            return np.load(probs_path), load_seconds
        except (IndexError, KeyError, ValueError, OSError) as err:
            raise ExportError(f"{where} gave no usable result ({type(err).__name__}: {err})") from None


def compare(reference: np.ndarray, probs: np.ndarray, tolerance: float) -> dict[str, Any]:
    max_abs = float(np.max(np.abs(reference - probs)))
    same_argmax = bool(np.array_equal(reference.argmax(axis=1), probs.argmax(axis=1)))
    return {
        "max_abs_diff": float(f"{max_abs:.3g}"),
        "same_argmax": same_argmax,
        "ok": bool(max_abs <= tolerance and same_argmax),
    }


def _reload_main() -> None:
    parser = argparse.ArgumentParser(description="Reload one export and predict (used by the export stage).")
    parser.add_argument("kind", choices=sorted(LOADERS))
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("images", type=Path)
    parser.add_argument("probs", type=Path)
    args = parser.parse_args()
    with np.load(args.images) as data:
        images = data["images"]
    start = time.perf_counter()
    predict = LOADERS[args.kind](args.out_dir)
    load_seconds = time.perf_counter() - start
    np.save(args.probs, np.asarray(predict(images), dtype=np.float32))
    print(json.dumps({"load_seconds": load_seconds}))


if __name__ == "__main__":
    _reload_main()
