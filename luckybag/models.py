"""Keras models built from the ``train`` params: the seed's dense networks and a CNN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from luckybag.errors import LuckybagError

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


def build_cnn(
    filters: list[int],
    kernel_size: int = 3,
    pool_size: int = 2,
    dense_units: int = 100,
    dropout: float = 0.0,
    batch_norm: bool = False,
    augment: bool = False,
    convs_per_block: int = 1,
) -> keras.Sequential:
    """The textbook's next chapter: [(Conv2D -> (BatchNorm) -> ReLU) x convs_per_block -> MaxPool] per filter count,
    then Flatten -> Dense(dense_units, relu) -> Dropout -> Dense(10, softmax). Same raw-pixel input.

    ``augment`` adds random mirror images and shifts of up to 2 pixels while training
    (a mirrored or shifted garment is still the same garment); they do nothing at inference.
    """
    model = keras.Sequential(name="cnn")
    model.add(keras.Input(shape=(28, 28), name="pixels"))
    model.add(keras.layers.Rescaling(1.0 / 255, name="scale"))
    model.add(keras.layers.Reshape((28, 28, 1), name="channel"))
    if augment:
        model.add(keras.layers.RandomFlip("horizontal", name="augment_flip"))
        model.add(keras.layers.RandomTranslation(2 / 28, 2 / 28, fill_mode="constant", name="augment_shift"))
    for i, count in enumerate(filters, start=1):
        for j in range(1, convs_per_block + 1):
            suffix = f"{i}" if convs_per_block == 1 else f"{i}_{j}"
            model.add(
                keras.layers.Conv2D(count, kernel_size, padding="same", use_bias=not batch_norm, name=f"conv{suffix}")
            )
            if batch_norm:
                model.add(keras.layers.BatchNormalization(name=f"norm{suffix}"))
            model.add(keras.layers.Activation("relu", name=f"relu{suffix}"))
        model.add(keras.layers.MaxPooling2D(pool_size, name=f"pool{i}"))
    model.add(keras.layers.Flatten(name="flatten"))
    model.add(keras.layers.Dense(dense_units, activation="relu", name="hidden1"))
    if dropout > 0:
        model.add(keras.layers.Dropout(dropout, name="dropout1"))
    model.add(keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output"))
    return model


def build_model(params: dict[str, Any]) -> keras.Sequential:
    """The network the ``train`` params describe: ``model: dense`` or ``model: cnn``."""
    if params["model"] == "cnn":
        cnn = params["cnn"]
        return build_cnn(
            cnn["filters"],
            cnn["kernel_size"],
            cnn["pool_size"],
            cnn["dense_units"],
            params["dropout"],
            cnn["batch_norm"],
            cnn["augment"],
            cnn["convs_per_block"],
        )
    return build_dense(params["hidden_layers"], params["dropout"])


DEFAULT_LEARNING_RATE = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01}  # the others: 0.001


def make_optimizer(
    name: str, learning_rate: float | None = None, momentum: float = 0.9, decay_steps: int | None = None
) -> keras.optimizers.Optimizer:
    """The seed's optimizers; ``learning_rate=None`` keeps each one's Keras default.

    ``decay_steps`` turns the learning rate into a cosine decay to 0 over that many steps.
    """
    if decay_steps:
        start = learning_rate if learning_rate is not None else DEFAULT_LEARNING_RATE.get(name, 0.001)
        learning_rate = keras.optimizers.schedules.CosineDecay(start, decay_steps)
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


@keras.saving.register_keras_serializable(package="luckybag")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against targets of 1 - s + s/10 for the label and s/10 elsewhere.

    Keras' sparse cross-entropy has no label smoothing; the one-hot one has.
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "smoothed_sparse_crossentropy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), NUM_CLASSES)
        return keras.losses.categorical_crossentropy(labels, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def compile_model(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    steps_per_execution: int = 1,
    label_smoothing: float = 0.0,
) -> None:
    loss = SmoothedSparseCrossentropy(label_smoothing) if label_smoothing > 0 else "sparse_categorical_crossentropy"
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=80)
    return "\n".join(lines) + "\n"


def load_checkpoint(path: Path) -> keras.Model:
    """The train stage's best model; a one-line error if it is missing or unreadable."""
    if not Path(path).is_file():
        raise LuckybagError(f"{path}: file not found (run the train stage first)")
    try:
        return keras.models.load_model(path)
    except Exception as err:  # noqa: BLE001 - any loader failure means the file is not a usable model
        raise LuckybagError(
            f"{path}: not a loadable Keras model ({type(err).__name__}); re-run the train stage"
        ) from None
