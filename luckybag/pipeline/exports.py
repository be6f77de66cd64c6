"""The served model (raw pixels in, calibrated probabilities out) and its export formats, the same bytes every run."""

from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from luckybag.contract import CLASS_NAMES, EXPORT_FILES, INPUT_DTYPE, SIDE
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


def save_all(served: Any, out_dir: Path) -> dict[str, Path]:
    """Write every format of ``served`` into ``out_dir``, each whole or not at all, the same bytes every run."""
    paths = {kind: out_dir / name for kind, name in EXPORT_FILES.items()}
    with atomic_path(paths["keras"]) as tmp:
        served.save(tmp)
        reproducible_keras_archive(tmp)
    with atomic_path(paths["weights"], suffix=".weights.h5") as tmp:
        served.save_weights(tmp)
    write_text(paths["architecture"], served.to_json())
    with atomic_dir(paths["savedmodel"]) as tmp, _variables_in_name_order():
        served.export(str(tmp), format="tf_saved_model", verbose=False)
        _reproducible_fingerprint(tmp / "fingerprint.pb")
    with atomic_path(paths["onnx"]) as tmp:
        served.export(str(tmp), format="onnx", verbose=False)
    write_json(paths["labels"], {str(i): name for i, name in enumerate(CLASS_NAMES)})
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
