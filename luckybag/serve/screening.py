"""Flag inputs unlike the training data with the screen stage's detector (``ood/`` beside the served model).

Four parts score an image, each the larger the stranger:

- features: the squared Mahalanobis distance of the model's penultimate features to the nearest class mean under one
  shared covariance (Lee et al. 2018), fitted on the training split;
- pixel_neighbour: the distance to the nearest training image within the training pixels' principal components
  (deep-kNN style, Sun et al. 2022, on pixels);
- border: the mean brightness of the outermost ring of pixels (an item lies on black; a photo fills its frame);
- flatness: minus the mean difference between neighbouring pixels (a blank or plain picture has none).

Each part becomes an upper-tail p-value against the validation split's scores of that part (their empirical share
at or above it; beyond their 99th percentile an exponential tail, the peaks-over-threshold model, scaled by the mean
excess above it), and Fisher's method combines them: score = -sum(log p). An image whose score exceeds the
threshold (the validation scores' 99th percentile) is flagged. The stage (``stages/screen.py``) fits it for one
model; the detector names that model's files by their MD5, so another model is never screened with it. Serving
needs numpy and onnxruntime only.
"""

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from luckybag.contract import DETECTOR_DIR, SIDE
from luckybag.errors import LuckybagError, one_line

FEATURES, ARRAYS, SUMMARY = "features.onnx", "detector.npz", "detector.json"
ARRAY_NAMES = ("means", "precision", "pixel_mean", "components", "neighbours", "validation", "tail_start", "tail_scale")
PARTS = ("features", "pixel_neighbour", "border", "flatness")
TAIL = 0.01  # the upper share of the validation scores where each part's exponential tail takes over
CHUNK, NEIGHBOUR_BLOCK = 256, 4096  # images x training images per block of distances (8 MB in float64)
UNSCREENED = "answers are unscreened"


class DetectorError(LuckybagError):
    """The detector beside a model is not the screen stage's."""


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def pixel_coordinates(arrays: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """Pixels (0-1) centred and projected on the training split's principal components."""
    return (images.reshape(len(images), SIDE * SIDE) / 255.0 - arrays["pixel_mean"]) @ arrays["components"].T


def nearest_distance(points: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point to its nearest row of ``neighbours``, computed in the points' dtype a block
    of each at a time (memory stays under 20 MB for any batch)."""
    nearest = np.full(len(points), np.inf, dtype=points.dtype)
    for start in range(0, len(neighbours), NEIGHBOUR_BLOCK):
        block = neighbours[start : start + NEIGHBOUR_BLOCK].astype(points.dtype)
        squared, doubled = (block**2).sum(axis=1), np.ascontiguousarray(-2 * block.T)
        for i in range(0, len(points), CHUNK):
            chunk = points[i : i + CHUNK]
            distances = chunk @ doubled
            distances += squared  # in place: one pass over the block's distances instead of three
            np.minimum(
                nearest[i : i + CHUNK], distances.min(axis=1) + (chunk**2).sum(axis=1), out=nearest[i : i + CHUNK]
            )
    return np.sqrt(np.maximum(nearest, 0.0))


def part_scores(
    arrays: dict[str, np.ndarray], features: np.ndarray, images: np.ndarray, dtype: type = np.float64
) -> np.ndarray:
    """(n, 4) raw scores of the four parts (see the module's docstring), larger the stranger. The stage fits in float64
    (the same bytes on every CPU); serving's float32 nearest-neighbour distances halve the time and memory."""
    f = np.asarray(features, dtype=np.float64)
    means, precision = arrays["means"], arrays["precision"]
    projected = means @ precision
    distances = (f @ precision * f).sum(axis=1)[:, None] - 2 * f @ projected.T + (projected * means).sum(axis=1)
    x = np.asarray(images, dtype=np.float64).reshape(len(images), SIDE, SIDE) / 255.0
    ring = np.ones((SIDE, SIDE), dtype=bool)
    ring[1:-1, 1:-1] = False
    flatness = -(np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2)))
    neighbour = nearest_distance(pixel_coordinates(arrays, images).astype(dtype), arrays["neighbours"])
    return np.stack([distances.min(axis=1), neighbour, x[:, ring].mean(axis=1), flatness], axis=1)


def log_p_values(arrays: dict[str, np.ndarray], raw: np.ndarray) -> np.ndarray:
    """Each part's log upper-tail p-value against the validation scores (sorted per part in ``validation``); in log
    space, as the exponential tail of a far input underflows."""
    validation, start, scale = arrays["validation"], arrays["tail_start"], arrays["tail_scale"]
    n = len(validation)
    at_or_above = np.stack([n - np.searchsorted(validation[:, j], raw[:, j]) for j in range(raw.shape[1])], axis=1)
    empirical = np.log(np.maximum((at_or_above + 1) / (n + 1), TAIL))
    return np.where(raw > start, np.log(TAIL) - np.maximum(raw - start, 0.0) / scale, empirical)


def combined(arrays: dict[str, np.ndarray], raw: np.ndarray) -> np.ndarray:
    """Fisher's method: minus the sum of the parts' log p-values."""
    return -log_p_values(arrays, raw).sum(axis=1)


@dataclass(frozen=True)
class Detector:
    path: Path
    features: Callable[[np.ndarray], np.ndarray]
    arrays: dict[str, np.ndarray]
    threshold: float

    def score(self, images: np.ndarray) -> np.ndarray:
        """The combined score of each (SIDE, SIDE) image; pixels 0-255, rounded and clipped as the served model's."""
        images = np.ascontiguousarray(np.clip(np.rint(images), 0, 255).astype(np.uint8))
        return combined(self.arrays, part_scores(self.arrays, self.features(images), images, np.float32))


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
            arrays = {name: np.asarray(npz[name], dtype=np.float64) for name in ARRAY_NAMES if name != "neighbours"}
            arrays["neighbours"] = np.asarray(npz["neighbours"], dtype=np.float32)
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
