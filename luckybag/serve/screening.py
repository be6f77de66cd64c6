"""Flag inputs unlike the training data with the screen stage's detector (``ood/`` beside the served model).

An image's score, the larger the stranger, is the largest of three parts, each scaled so that its validation-split
median is 0 and its validation 99th percentile is 1 (Mahalanobis scores at two depths, as Lee et al. 2018 combine
layers):

- features: the Mahalanobis distance of the model's penultimate features to the nearest class mean under one shared
  covariance (Lee et al. 2018), means and covariance fitted on the training split;
- pixel_distance: the Mahalanobis distance of the pixels (0-1) within the training split's principal components;
- pixel_residual: how far the pixels lie off those components (the mean squared residual).

An image whose score exceeds the threshold (the validation scores' 99th percentile) is flagged. The stage
(``stages/screen.py``) fits it for one model; the detector names that model's files by their MD5, so another model
is never screened with it. Serving needs numpy and onnxruntime only.
"""

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from luckybag.contract import DETECTOR_DIR
from luckybag.errors import LuckybagError, one_line

FEATURES, ARRAYS, SUMMARY = "features.onnx", "detector.npz", "detector.json"
ARRAY_NAMES = ("means", "precision", "pixel_mean", "components", "variances", "center", "spread")
PARTS = ("features", "pixel_distance", "pixel_residual")
UNSCREENED = "answers are unscreened"


class DetectorError(LuckybagError):
    """The detector beside a model is not the screen stage's."""


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def part_scores(arrays: dict[str, np.ndarray], features: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(n, 3) raw scores: squared Mahalanobis distances (features: to the nearest class mean; pixels: within the
    principal components) and the mean squared pixel residual."""
    f = np.asarray(features, dtype=np.float64)
    means, precision = arrays["means"], arrays["precision"]
    projected = means @ precision
    distances = (f @ precision * f).sum(axis=1)[:, None] - 2 * f @ projected.T + (projected * means).sum(axis=1)
    x = images.reshape(len(images), -1) / 255.0 - arrays["pixel_mean"]
    coordinates = x @ arrays["components"].T
    residual = x - coordinates @ arrays["components"]
    within = (coordinates**2 / arrays["variances"]).sum(axis=1)
    return np.stack([distances.min(axis=1), within, (residual**2).mean(axis=1)], axis=1)


def combined(arrays: dict[str, np.ndarray], raw: np.ndarray) -> np.ndarray:
    """Each part scaled by its validation median and 99th percentile, then the larger of them."""
    return ((raw - arrays["center"]) / arrays["spread"]).max(axis=1)


@dataclass(frozen=True)
class Detector:
    path: Path
    features: Callable[[np.ndarray], np.ndarray]
    arrays: dict[str, np.ndarray]
    threshold: float

    def score(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        return combined(self.arrays, part_scores(self.arrays, self.features(images), images))


def onnx_features(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - any failure of the loader means "not ours"
        raise DetectorError(f"{path}: cannot load it as an ONNX feature graph ({one_line(err)})") from None
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})[0]


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: np.asarray(npz[name], dtype=np.float64) for name in ARRAY_NAMES}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DetectorError(
            f"{path}: not a detector's arrays ({one_line(err)}); expected {', '.join(ARRAY_NAMES)}"
        ) from None
    return arrays


def read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        float(summary["threshold"]), dict(summary["models"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise DetectorError(
            f'{path}: not a detector summary ({one_line(err)}); expected "threshold" and "models"'
        ) from None
    return summary


def find(model: Path) -> tuple[Detector | None, str | None]:
    """The detector fitted for ``model`` (beside it), or None and a one-line notice why the answers are unscreened."""
    directory = model.with_name(DETECTOR_DIR)
    if not (directory / SUMMARY).is_file():
        return None, f"note: {directory}/ not found beside {model.name}: {UNSCREENED} (`dvc repro` fits it)"
    summary = read_summary(directory / SUMMARY)
    if summary["models"].get(model.name) != md5(model):
        return None, f"note: {directory}/ was fitted for another {model.name}: {UNSCREENED} (`dvc repro` refits it)"
    features = onnx_features(directory / FEATURES)
    return Detector(directory, features, read_arrays(directory / ARRAYS), float(summary["threshold"])), None
