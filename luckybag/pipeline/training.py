"""Train a model from the ``train`` params: checkpoint, early stopping, DVCLive."""

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from luckybag.errors import LuckybagError
from luckybag.pipeline.data import Split
from luckybag.pipeline.models import build_model, compile_model, make_optimizer
from luckybag.pipeline.params import TrainParams


class LiveLogger(keras.callbacks.Callback):
    """Per-epoch metrics to DVCLive; hand-written as dvclive's Keras callback imports all of TensorFlow (seconds)."""

    def __init__(self, live: Any) -> None:
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        for name, value in (logs or {}).items():
            if name != "learning_rate":
                split = "eval" if name.startswith("val_") else "train"
                self.live.log_metric(f"{split}/{name.removeprefix('val_')}", float(value))
        self.live.next_step()


@dataclass(frozen=True)
class TrainResult:
    model: keras.Model  # as fit left it; the checkpoint file holds the best epoch
    history: dict[str, list[float]]
    epochs_run: int
    stopped_early: bool
    monitor: str = "val_loss"

    @property
    def best_epoch(self) -> int:
        """1-based epoch the checkpoint holds: the first best monitored value, never a NaN one (as Keras saves)."""
        values = np.asarray(self.history[self.monitor], dtype=np.float64)
        best = np.nanargmax(values) if self.monitor == "val_accuracy" else np.nanargmin(values)
        return int(best) + 1


def validation_batch_size(n: int, largest: int = 1024) -> int:
    """At most ``largest`` a batch, split evenly: the training batch made validation a fifth of the epoch."""
    return math.ceil(n / math.ceil(n / largest))


def train(
    params: TrainParams,
    train_split: Split,
    val_split: Split,
    checkpoint_path: Path,
    live: Any | None = None,
    verbose: int | str | None = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Fit on ``train_split``, watching ``val_split``; keep the weights of the best ``monitor`` epoch."""
    if verbose is None:  # a progress bar on a terminal, one line per epoch in DVC logs
        verbose = "auto" if sys.stdout.isatty() else 2
    keras.utils.set_random_seed(params.seed)
    model = build_model(params)
    cosine = params.lr_schedule == "cosine"
    decay_steps = params.epochs * math.ceil(len(train_split) / params.batch_size) if cosine else None
    optimizer = make_optimizer(params.optimizer, params.learning_rate, params.momentum, decay_steps)
    # Keras' torch trainer only runs one step per call; the other backends take the param.
    steps = 1 if keras.backend.backend() == "torch" else params.steps_per_execution
    compile_model(model, optimizer, steps, params.label_smoothing)
    stop = keras.callbacks.EarlyStopping(monitor=params.monitor, patience=params.patience, restore_best_weights=True)
    callbacks = [keras.callbacks.ModelCheckpoint(str(checkpoint_path), monitor=params.monitor, save_best_only=True)]
    if params.patience > 0:  # 0 disables early stopping
        callbacks.append(stop)
    if live is not None:
        callbacks.append(LiveLogger(live))
    history = model.fit(
        train_split.images,
        train_split.labels,
        batch_size=params.batch_size,
        epochs=params.epochs,
        validation_data=(val_split.images, val_split.labels),
        validation_batch_size=validation_batch_size(len(val_split)),
        callbacks=[*callbacks, *extra_callbacks],
        verbose=verbose,
    ).history
    if not np.isfinite(history[params.monitor]).any():
        raise LuckybagError(
            f"train: {params.monitor} was not finite in any epoch (training diverged); "
            f"try a smaller train.learning_rate (now {params.learning_rate})"
        )
    epochs_run = len(history["loss"])
    history = {key: [float(v) for v in values] for key, values in history.items()}
    return TrainResult(model, history, epochs_run, epochs_run < params.epochs, params.monitor)
