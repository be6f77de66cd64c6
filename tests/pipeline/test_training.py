from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from luckybag.pipeline import data
from luckybag.pipeline.params import TrainParams
from luckybag.pipeline.training import TrainResult, train, validation_batch_size
from tests.conftest import ROOT, make_images


def tiny_split(n: int, seed: int) -> data.Split:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    return data.Split(make_images(labels, rng), labels)


def fit(params: dict, *args: object, **kwargs: object) -> TrainResult:
    """The train stage's library call on params as the test edited them."""
    return train(TrainParams.model_validate(params), *args, **kwargs)


@pytest.fixture
def train_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    params.update(epochs=4, batch_size=32, patience=1)
    return params


@pytest.mark.slow
def test_train_learns_and_checkpoints_the_best_epoch(tmp_path: Path, train_params: dict) -> None:
    checkpoint = tmp_path / "best.keras"
    result = fit(train_params, tiny_split(400, 0), tiny_split(100, 1), checkpoint, verbose=0)
    assert result.history["val_accuracy"][-1] > 0.5  # the bands are easy to learn
    assert 1 <= result.best_epoch <= result.epochs_run <= 4
    best = keras.models.load_model(checkpoint)
    val = tiny_split(100, 1)
    loss, _ = best.evaluate(val.images, val.labels, verbose=0)
    assert loss == pytest.approx(min(result.history["val_loss"]), rel=1e-4)


@pytest.mark.slow
def test_same_seed_same_history(tmp_path: Path, train_params: dict) -> None:
    runs = [
        fit(train_params, tiny_split(200, 0), tiny_split(50, 1), tmp_path / f"{i}.keras", verbose=0).history
        for i in range(2)
    ]
    assert runs[0] == runs[1]


@pytest.mark.slow
def test_early_stopping_stops(tmp_path: Path, train_params: dict) -> None:
    # A learning rate this large makes the validation loss rise at once.
    train_params.update(optimizer="sgd", learning_rate=5.0, epochs=10, patience=1)
    result = fit(train_params, tiny_split(200, 0), tiny_split(50, 1), tmp_path / "c.keras", verbose=0)
    assert result.stopped_early and result.epochs_run < 10


@pytest.mark.slow
def test_monitor_val_accuracy_keeps_the_most_accurate_epoch(tmp_path: Path, train_params: dict) -> None:
    train_params.update(monitor="val_accuracy", patience=0, epochs=4)
    checkpoint = tmp_path / "best.keras"
    val = tiny_split(100, 1)
    result = fit(train_params, tiny_split(400, 0), val, checkpoint, verbose=0)
    assert result.best_epoch == int(np.argmax(result.history["val_accuracy"])) + 1
    _, accuracy = keras.models.load_model(checkpoint).evaluate(val.images, val.labels, verbose=0)
    assert accuracy == pytest.approx(max(result.history["val_accuracy"]), abs=1e-6)


class PoisonWeights(keras.callbacks.Callback):
    """Sets every weight to NaN when epoch ``at`` (0-based) begins: training diverges from there on."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.at:
            self.model.set_weights([np.full_like(w, np.nan) for w in self.model.get_weights()])


@pytest.mark.slow
@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_loss_turning_nan_midway_keeps_the_best_finite_epoch(tmp_path: Path, train_params: dict, monitor: str) -> None:
    train_params.update(monitor=monitor, patience=0, epochs=4)
    checkpoint = tmp_path / "best.keras"
    val = tiny_split(100, 1)
    result = fit(train_params, tiny_split(400, 0), val, checkpoint, verbose=0, extra_callbacks=[PoisonWeights(2)])
    losses = result.history["val_loss"]
    assert np.isfinite(losses[:2]).all() and np.isnan(losses[2:]).all()
    assert result.best_epoch in (1, 2)  # np.argmin would say 3, the first NaN epoch
    assert result.history[monitor][result.best_epoch - 1] == (
        max(result.history[monitor][:2]) if monitor == "val_accuracy" else min(losses[:2])
    )
    loss, _ = keras.models.load_model(checkpoint).evaluate(val.images, val.labels, verbose=0)
    assert loss == pytest.approx(losses[result.best_epoch - 1], rel=1e-4)


@pytest.mark.slow
def test_metrics_files_never_hold_nan(tmp_path: Path) -> None:
    from luckybag.errors import LuckybagError
    from luckybag.io import write_json

    with pytest.raises(LuckybagError, match=r"m\.json: refusing to write a NaN or infinite number"):
        write_json(tmp_path / "m.json", {"best": {"val_loss": float("nan")}})
    with pytest.raises(LuckybagError):
        write_json(tmp_path / "m.json", [float("inf")])
    assert list(tmp_path.iterdir()) == []
    write_json(tmp_path / "m.json", {"val_loss": 0.5})
    assert (tmp_path / "m.json").read_text() == '{\n  "val_loss": 0.5\n}\n'


@pytest.mark.parametrize(("n", "batch"), [(12_000, 1000), (1024, 1024), (1025, 513), (60, 60)])
def test_validation_batches_are_large_and_equal_where_they_can_be(n: int, batch: int) -> None:
    assert validation_batch_size(n) == batch
