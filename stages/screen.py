"""Stage screen: the CLI's out-of-distribution detector for the exported model, written beside it in models/ood/.

The served ONNX model cut before its logits is the feature graph; the detector's statistics are fitted
on the training split's features and pixels, its threshold on the validation split's (luckybag/pipeline/ood.py).
"""

import tempfile
from pathlib import Path

import numpy as np

from luckybag.contract import EXPORT_FILES, MODELS_DIR
from luckybag.errors import main_guard
from luckybag.pipeline import ood
from luckybag.pipeline.data import load_split
from luckybag.pipeline.params import load_params
from luckybag.pipeline.paths import DETECTOR_DIR, prepared
from luckybag.serve import screening

SERVED = {kind: MODELS_DIR / EXPORT_FILES[kind][0] for kind in ("keras", "onnx")}


@main_guard
def main() -> None:
    load_params()  # a bad value anywhere stops here, as in every stage
    train, val = load_split(prepared("train")), load_split(prepared("val"))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / screening.FEATURES
        ood.feature_graph(SERVED["onnx"], onnx_path)
        features = screening.onnx_features(onnx_path)
        arrays = ood.fit_statistics(features(train.images), train.labels, train.images)
        raw = screening.part_scores(arrays, features(val.images), val.images)
        arrays, threshold = ood.calibrate(arrays, raw)
        flagged = float(np.mean(screening.combined(arrays, raw) > threshold))
        summary = {
            "score": "Fisher's method: -sum(log p) of the parts' upper-tail p-values against the validation scores",
            "parts": list(screening.PARTS),
            "threshold": threshold,
            "models": {path.name: screening.md5(path) for path in SERVED.values()},
            "fitted_on": {"statistics": "train split", "p-values and threshold": "validation split"},
            "train_images": len(train.images),
            "validation_images": len(val.images),
            "validation_flagged": flagged,
            "pixel_components": int(arrays["components"].shape[0]),
            "feature_dims": int(arrays["means"].shape[1]),
        }
        ood.write(DETECTOR_DIR, onnx_path, arrays, summary)
    print(f"screen: {DETECTOR_DIR}/ threshold {threshold:.4g}, {flagged:.2%} of validation images flagged")


if __name__ == "__main__":
    main()
