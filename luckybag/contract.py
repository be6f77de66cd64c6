"""The shared constants: Fashion-MNIST's classes and the served model's contract (export and CLI alike)."""

from pathlib import Path

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
NUM_CLASSES = len(CLASS_NAMES)
SIDE = 28  # images are SIDE x SIDE
INPUT_DTYPE = "uint8"  # the served model takes raw 0-255 pixels, (n, SIDE, SIDE), and scales inside
MODELS_DIR = Path("models")
# The export stage's formats and their files in MODELS_DIR, the format's own first; how each is written and
# reloaded: luckybag.pipeline.exports.FORMATS. The CLI serves "onnx" (default) or "keras".
EXPORT_FILES = {
    "keras": ("model.keras",),
    "weights": ("model.weights.h5", "architecture.json"),
    "savedmodel": ("savedmodel",),
    "onnx": ("model.onnx",),
}
LABELS_FILE = "labels.json"  # {"0": "T-shirt/top", ...}, beside the model
DETECTOR_DIR = "ood"  # the out-of-distribution detector (the screen stage's), beside the model
SERVED_FORMATS = ("onnx", "keras")
