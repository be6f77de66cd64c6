"""Keras models built from the ``train`` params: the seed's dense networks."""

from __future__ import annotations

from typing import Any

import keras

NUM_CLASSES = 10


def build_dense(hidden_layers: list[dict[str, Any]], dropout: float = 0.0) -> keras.Sequential:
    """Input 28x28 raw pixels -> scale to [0, 1] -> Flatten -> Dense... -> Dense(10, softmax).

    Scaling lives inside the model so callers feed raw uint8 pixels and can't
    get preprocessing wrong. Dropout follows each hidden layer, as in the seed.
    """
    model = keras.Sequential(name="dense")
    model.add(keras.Input(shape=(28, 28), name="pixels"))
    model.add(keras.layers.Rescaling(1.0 / 255, name="scale"))
    model.add(keras.layers.Flatten(name="flatten"))
    for i, layer in enumerate(hidden_layers, start=1):
        model.add(keras.layers.Dense(layer["units"], activation=layer["activation"], name=f"hidden{i}"))
        if dropout > 0:
            model.add(keras.layers.Dropout(dropout, name=f"dropout{i}"))
    model.add(keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output"))
    return model


def make_optimizer(name: str, learning_rate: float | None = None, momentum: float = 0.9) -> keras.optimizers.Optimizer:
    """The seed's optimizers; ``learning_rate=None`` keeps each one's Keras default."""
    lr = {} if learning_rate is None else {"learning_rate": learning_rate}
    factories = {
        "sgd": lambda: keras.optimizers.SGD(**lr),
        "momentum": lambda: keras.optimizers.SGD(momentum=momentum, **lr),
        "nesterov": lambda: keras.optimizers.SGD(momentum=momentum, nesterov=True, **lr),
        "rmsprop": lambda: keras.optimizers.RMSprop(**lr),
        "adagrad": lambda: keras.optimizers.Adagrad(**lr),
        "adam": lambda: keras.optimizers.Adam(**lr),
    }
    return factories[name]()


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer, steps_per_execution: int = 1) -> None:
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=80)
    return "\n".join(lines) + "\n"
