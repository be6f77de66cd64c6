"""The shared constants: Fashion-MNIST's classes and the served model's contract (export and CLI alike)."""

from pathlib import Path

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
NUM_CLASSES = len(CLASS_NAMES)
SIDE = 28  # images are SIDE x SIDE
INPUT_DTYPE = "uint8"  # the served model takes raw 0-255 pixels, (n, SIDE, SIDE), and scales inside
MODELS_DIR = Path("models")
# The export stage's files in MODELS_DIR; the CLI serves "onnx" (default) or "keras".
EXPORT_FILES = {
    "keras": "model.keras",
    "weights": "model.weights.h5",
    "architecture": "architecture.json",
    "savedmodel": "savedmodel",
    "onnx": "model.onnx",
    "labels": "labels.json",  # {"0": "T-shirt/top", ...}, beside the model
}
SERVED_FORMATS = ("onnx", "keras")  # the formats the CLI serves: onnxruntime (default) or Keras
