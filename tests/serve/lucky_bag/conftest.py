"""Shared by the predict/bag CLI tests: a hand-set stand-in for the export and photos of its classes.

The stand-in keeps the export's contract (raw 28x28 pixels in, 10 probabilities out): class ``c`` is a
centred bar of width 4 + 2c spanning the full height, so photos of such bars must come back as ``c``.
It has no detector beside it, so every run says once that its answers are unscreened (test_bag.py checks
that line; ``run_cli`` sets it aside). The real detector is tested in tests/serve/test_screening.py and
tests/pipeline/test_screen_stage.py.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from luckybag import CLASS_NAMES, cli
from luckybag.serve.screening import UNSCREENED


def bar(c: int, value: int = 200) -> np.ndarray:
    """The prototype of class ``c``: a light bar on black, as the training data looks."""
    image = np.zeros((28, 28), dtype=np.uint8)
    left = (28 - (4 + 2 * c)) // 2
    image[:, left : left + 4 + 2 * c] = value
    return image


def build_model(output_units: int = 10, input_side: int = 28, activation: str | None = "softmax"):
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(input_side, input_side)),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(output_units, activation=activation),
        ]
    )
    if output_units == 10 and input_side == 28:
        protos = np.stack([bar(c) for c in range(10)]).reshape(10, -1).astype(np.float32) / 255
        protos -= protos.mean(axis=1, keepdims=True)
        protos /= np.linalg.norm(protos, axis=1, keepdims=True)
        model.layers[-1].set_weights([8.0 * protos.T, np.zeros(10, dtype=np.float32)])
    return model


def write_labels(path: Path, names=CLASS_NAMES) -> Path:
    path.write_text(json.dumps({str(i): name for i, name in enumerate(names)}))
    return path


def photo(c: int, size: tuple[int, int] = (500, 400), dark_on_light: bool = False) -> Image.Image:
    """A big 'photo' of item ``c``: the bar scaled up, off-centre on a plain backdrop."""
    item = Image.fromarray(bar(c)).resize((280, 280), Image.Resampling.NEAREST)
    canvas = Image.new("L", size, 0)
    canvas.paste(item, (30, 60))
    return Image.fromarray(255 - np.asarray(canvas)) if dark_on_light else canvas


def run_cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, list[str]]:
    """Run the ``luckybag`` command in-process; return (status, stdout, stderr lines but the unscreened notice)."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, [line for line in err.splitlines() if not line.endswith(f"{UNSCREENED} (`dvc repro` fits it)")]


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    build_model().save(directory / "model.keras")
    write_labels(directory / "labels.json")
    return directory / "model.keras"


@pytest.fixture
def images(tmp_path: Path) -> dict[str, tuple[Path, int]]:
    """Photos of several kinds, each with the class it shows."""
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., :3] = (210, 190, 230)
    rgba[..., 3] = np.where(bar(1) > 0, 255, 0)
    kinds = {
        "small.png": (Image.fromarray(bar(3)), 3, {}),
        "rgb.png": (photo(5).convert("RGB"), 5, {}),
        "large.jpg": (photo(7, size=(1600, 1200)).convert("RGB"), 7, {"quality": 85}),
        "cutout.png": (Image.fromarray(rgba, "RGBA").resize((300, 300), Image.Resampling.NEAREST), 1, {}),
        "gray16.png": (Image.fromarray(bar(6).astype(np.uint16) * 257), 6, {}),
    }
    for name, (image, _, save) in kinds.items():
        image.save(tmp_path / name, **save)
    return {name: (tmp_path / name, c) for name, (_, c, _) in kinds.items()}
