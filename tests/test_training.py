from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from luckybag import data
from luckybag.training import train
from tests.conftest import ROOT, make_images

pytestmark = pytest.mark.slow


def tiny_split(n: int, seed: int) -> data.Split:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    return data.Split(make_images(labels, rng), labels)


@pytest.fixture
def train_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    params.update(epochs=4, batch_size=32, patience=1)
    return params


def test_train_learns_and_checkpoints_the_best_epoch(tmp_path: Path, train_params: dict) -> None:
    checkpoint = tmp_path / "best.keras"
    result = train(train_params, tiny_split(400, 0), tiny_split(100, 1), checkpoint, verbose=0)
    assert result.history["val_accuracy"][-1] > 0.5  # the bands are easy to learn
    assert 1 <= result.best_epoch <= result.epochs_run <= 4
    best = keras.models.load_model(checkpoint)
    val = tiny_split(100, 1)
    loss, _ = best.evaluate(val.images, val.labels, verbose=0)
    assert loss == pytest.approx(min(result.history["val_loss"]), rel=1e-4)


def test_same_seed_same_history(tmp_path: Path, train_params: dict) -> None:
    runs = [
        train(train_params, tiny_split(200, 0), tiny_split(50, 1), tmp_path / f"{i}.keras", verbose=0).history
        for i in range(2)
    ]
    assert runs[0] == runs[1]


def test_early_stopping_stops(tmp_path: Path, train_params: dict) -> None:
    # A learning rate this large makes the validation loss rise at once.
    train_params.update(optimizer="sgd", learning_rate=5.0, epochs=10, patience=1)
    result = train(train_params, tiny_split(200, 0), tiny_split(50, 1), tmp_path / "c.keras", verbose=0)
    assert result.stopped_early and result.epochs_run < 10


def test_monitor_val_accuracy_keeps_the_most_accurate_epoch(tmp_path: Path, train_params: dict) -> None:
    train_params.update(monitor="val_accuracy", patience=0, epochs=4)
    checkpoint = tmp_path / "best.keras"
    val = tiny_split(100, 1)
    result = train(train_params, tiny_split(400, 0), val, checkpoint, verbose=0)
    assert result.best_epoch == int(np.argmax(result.history["val_accuracy"])) + 1
    _, accuracy = keras.models.load_model(checkpoint).evaluate(val.images, val.labels, verbose=0)
    assert accuracy == pytest.approx(max(result.history["val_accuracy"]), abs=1e-6)
