"""Fit the out-of-distribution detector the CLI screens with (luckybag/serve/screening.py says what it scores).

Means, covariance, principal components and the nearest-neighbour points come from the training split; each part's
validation scores (its p-values) and the threshold from the validation split. The test split is never looked at.
"""

import math
from pathlib import Path

import numpy as np

from luckybag.errors import LuckybagError, one_line
from luckybag.io import atomic_dir, save_npz, write_json
from luckybag.pipeline.calibration import snap
from luckybag.serve import screening

PIXEL_COMPONENTS = 64  # principal components of the training pixels that the nearest-neighbour distance uses
FLAG_RATE = 0.01  # share of validation images flagged: the threshold is this upper quantile of their scores
# Another CPU's BLAS kernels move the fitted statistics by up to ~1e-12 of an array's largest value (the precision
# matrix: inverting amplifies); kept on a grid of 1e-5 of it, the stage writes the same bytes on every CPU.
GRID_DIGITS = 5


def on_grid(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to a multiple of 10**-GRID_DIGITS of the array's largest magnitude (its leading digit)."""
    step = 10.0 ** (math.floor(math.log10(float(np.abs(values).max()))) - GRID_DIGITS)
    return np.round(values / step) * step + 0.0  # + 0.0: no -0.0, whose bytes differ


def feature_graph(served_onnx: Path, out: Path) -> None:
    """The served ONNX graph cut before its logits: raw pixels in, the penultimate features out (no framework)."""
    import onnx
    from onnx.utils import Extractor

    try:
        served = onnx.load(str(served_onnx))
        (logits,) = [
            node for node in served.graph.node if node.op_type in {"MatMul", "Gemm"} and "/logits" in node.name
        ]
    except Exception as err:  # noqa: BLE001 - unreadable, or a graph without one logits layer: not the export's
        raise LuckybagError(f"{served_onnx}: not the export's ONNX model ({one_line(err)}); re-run export") from None
    inputs = [tensor.name for tensor in served.graph.input]
    onnx.save(Extractor(onnx.shape_inference.infer_shapes(served)).extract_model(inputs, [logits.input[0]]), str(out))


def fit_statistics(features: np.ndarray, labels: np.ndarray, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """Class means and the shared (Ledoit-Wolf shrunk) precision of the features; the pixels' principal components
    and every training image's coordinates on them (the nearest-neighbour points)."""
    from sklearn.covariance import LedoitWolf
    from sklearn.decomposition import PCA

    features = features.astype(np.float64)
    classes = np.unique(labels)
    means = np.stack([features[labels == c].mean(axis=0) for c in classes])
    centred = features - means[np.searchsorted(classes, labels)]
    pca = PCA(n_components=PIXEL_COMPONENTS, svd_solver="full").fit(pixels.reshape(len(pixels), -1) / 255.0)
    fitted = {
        "means": means,
        "precision": LedoitWolf(assume_centered=True).fit(centred).precision_,
        "pixel_mean": pca.mean_,
        "components": pca.components_,
    }
    fitted = {name: on_grid(values) for name, values in fitted.items()}
    return fitted | {"neighbours": on_grid(screening.pixel_coordinates(fitted, pixels)).astype(np.float32)}


def calibrate(arrays: dict[str, np.ndarray], raw: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    """Each part's sorted validation scores and exponential tail (beyond its 99th percentile, scaled by the mean
    excess above it), and the combined score's threshold: its validation 99th percentile."""
    start = np.quantile(raw, 1 - screening.TAIL, axis=0)
    excess = [raw[raw[:, j] > start[j], j] - start[j] for j in range(raw.shape[1])]
    scale = np.array([max(float(e.mean()) if e.size else 0.0, 1e-12) for e in excess])
    arrays = arrays | {"validation": snap(np.sort(raw, axis=0)), "tail_start": snap(start), "tail_scale": snap(scale)}
    return arrays, float(snap(np.quantile(screening.combined(arrays, raw), 1 - FLAG_RATE)))


def write(out_dir: Path, features_onnx: Path, arrays: dict[str, np.ndarray], summary: dict) -> None:
    """The detector's three files, written together into ``out_dir`` (all or none)."""
    with atomic_dir(out_dir) as tmp:
        tmp.mkdir()
        (tmp / screening.FEATURES).write_bytes(features_onnx.read_bytes())
        save_npz(tmp / screening.ARRAYS, **{name: arrays[name] for name in screening.ARRAY_NAMES})
        write_json(tmp / screening.SUMMARY, summary)
