"""The seed's steps as plain Python, the way the notes run them (TensorFlow backend, default fit).

load Fashion-MNIST -> SGDClassifier(log_loss, max_iter=5) 5-fold CV -> train/validation split ->
Flatten-Dense(100, relu)-Dropout(0.3)-Dense(10, softmax), adam, 20 epochs,
ModelCheckpoint + EarlyStopping(patience=2). Prints a JSON line with the figures.

Usage: python benchmarks/seed_pipeline.py [DATA_DIR] [--epochs N] [--no-early-stopping] [--skip-cv]
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()
os.environ["KERAS_BACKEND"] = "tensorflow"  # the seed's Keras


def load_idx(path: Path):
    import numpy as np

    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", nargs="?", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--no-early-stopping", action="store_true")
    parser.add_argument("--skip-cv", action="store_true")
    parser.add_argument("--verbose", default="auto", help="Keras fit verbosity; the seed uses the default")
    args = parser.parse_args()
    if args.verbose != "auto":
        args.verbose = int(args.verbose)

    import keras
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import cross_validate, train_test_split

    data = Path(args.data_dir)
    train_input = load_idx(data / "train-images-idx3-ubyte.gz").reshape(-1, 28, 28)
    train_target = load_idx(data / "train-labels-idx1-ubyte.gz")
    figures = {}

    if not args.skip_cv:
        start = time.perf_counter()
        train_scaled = train_input.reshape(-1, 28 * 28) / 255.0
        sc = SGDClassifier(loss="log_loss", max_iter=5, random_state=42)
        scores = cross_validate(sc, train_scaled, train_target, n_jobs=-1)
        figures["cv_mean_accuracy"] = float(scores["test_score"].mean())
        figures["cv_seconds"] = time.perf_counter() - start

    train_scaled = train_input / 255.0
    train_scaled, val_scaled, train_target, val_target = train_test_split(
        train_scaled, train_target, test_size=0.2, random_state=42
    )
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with tempfile.TemporaryDirectory() as tmp:
        callbacks = [keras.callbacks.ModelCheckpoint(f"{tmp}/best-model.keras", save_best_only=True)]
        if not args.no_early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True))
        start = time.perf_counter()
        history = model.fit(
            train_scaled,
            train_target,
            epochs=args.epochs,
            verbose=args.verbose,
            validation_data=(val_scaled, val_target),
            callbacks=callbacks,
        )
        fit_seconds = time.perf_counter() - start
    epochs = len(history.history["loss"])
    figures.update(
        epochs_run=epochs,
        fit_seconds=fit_seconds,
        seconds_per_epoch=fit_seconds / epochs,
        best_val_accuracy=float(
            history.history["val_accuracy"][min(range(epochs), key=history.history["val_loss"].__getitem__)]
        ),
        total_seconds=time.perf_counter() - START,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
