"""Train a model from the ``train`` params: checkpoint, early stopping, DVCLive."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from luckybag.data import Split
from luckybag.errors import LuckybagError
from luckybag.models import build_model, compile_model, make_optimizer


class LiveLogger(keras.callbacks.Callback):
    """Per-epoch metrics to DVCLive.

    dvclive.keras.DVCLiveCallback does the same but imports all of TensorFlow,
    which would cost every JAX/torch run seconds of start-up; this one only
    needs Keras.
    """

    def __init__(self, live: Any) -> None:
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        for name, value in (logs or {}).items():
            if name == "learning_rate":
                continue
            split, metric = ("eval", name[4:]) if name.startswith("val_") else ("train", name)
            self.live.log_metric(f"{split}/{metric}", float(value))
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
        """1-based epoch with the best monitored value: the one the checkpoint holds
        (the first of equal values, as Keras' checkpoint only saves on improvement). Epochs whose
        value is NaN (training diverged there) never count: the checkpoint skipped them too."""
        values = np.asarray(self.history[self.monitor], dtype=np.float64)
        best = np.nanargmax(values) if self.monitor == "val_accuracy" else np.nanargmin(values)
        return int(best) + 1


def steps_per_execution(params: dict[str, Any]) -> int:
    """Keras' torch trainer only runs one step per call; the other backends take the param."""
    return 1 if keras.backend.backend() == "torch" else params["steps_per_execution"]


def validation_batch_size(n: int, largest: int = 1024) -> int:
    """Validation only predicts, so it needs no small batches: at most ``largest`` images a batch,
    split evenly where ``n`` allows (one compiled batch shape). Keras' default is the training batch,
    which made validation a fifth of the epoch here (benchmarks/epoch_split.py)."""
    batches = -(-n // largest)
    return -(-n // batches)


def build_from_params(params: dict[str, Any], train_size: int) -> keras.Model:
    model = build_model(params)
    steps = params["epochs"] * math.ceil(train_size / params["batch_size"])
    decay_steps = steps if params["lr_schedule"] == "cosine" else None
    compile_model(
        model,
        make_optimizer(params["optimizer"], params["learning_rate"], params["momentum"], decay_steps),
        steps_per_execution(params),
        params["label_smoothing"],
    )
    return model


def train(
    params: dict[str, Any],
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
    keras.utils.set_random_seed(params["seed"])
    model = build_from_params(params, len(train_split))
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.ModelCheckpoint(str(checkpoint_path), monitor=params["monitor"], save_best_only=True),
    ]
    if params["patience"] > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=params["monitor"], patience=params["patience"], restore_best_weights=True
            )
        )
    if live is not None:
        callbacks.append(LiveLogger(live))
    callbacks.extend(extra_callbacks)
    history = model.fit(
        train_split.images,
        train_split.labels,
        batch_size=params["batch_size"],
        epochs=params["epochs"],
        validation_data=(val_split.images, val_split.labels),
        validation_batch_size=validation_batch_size(len(val_split)),
        callbacks=callbacks,
        verbose=verbose,
    ).history
    epochs_run = len(history["loss"])
    if not np.isfinite(history[params["monitor"]]).any():
        raise LuckybagError(
            f"train: {params['monitor']} was not finite in any epoch (training diverged); "
            f"try a smaller train.learning_rate (now {params['learning_rate']})"
        )
    return TrainResult(
        model=model,
        history={k: [float(v) for v in vals] for k, vals in history.items()},
        epochs_run=epochs_run,
        stopped_early=epochs_run < params["epochs"],
        monitor=params["monitor"],
    )
