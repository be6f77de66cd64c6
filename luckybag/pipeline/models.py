"""Keras models built from the ``train`` params: the seed's dense networks and a CNN."""

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from luckybag.contract import NUM_CLASSES, SIDE
from luckybag.errors import LuckybagError
from luckybag.pipeline.params import HiddenLayer, TrainParams

SGD = keras.optimizers.SGD
OPTIMIZERS = {"sgd": SGD, "momentum": SGD, "nesterov": SGD, "rmsprop": keras.optimizers.RMSprop}
OPTIMIZERS |= {"adagrad": keras.optimizers.Adagrad, "adam": keras.optimizers.Adam}


def _classifier(name: str, layers: list[keras.layers.Layer]) -> keras.Sequential:
    """Raw uint8 pixels in, scaled inside the model (callers can't get preprocessing wrong), 10 probabilities out."""
    pixels = [keras.Input(shape=(SIDE, SIDE), name="pixels"), keras.layers.Rescaling(1.0 / 255, name="scale")]
    output = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output")
    return keras.Sequential([*pixels, *layers, output], name=name)


def _hidden(i: int, units: int, activation: str, dropout: float) -> list[keras.layers.Layer]:
    dense = keras.layers.Dense(units, activation=activation, name=f"hidden{i}")
    return [dense, keras.layers.Dropout(dropout, name=f"dropout{i}")] if dropout > 0 else [dense]


def build_dense(hidden_layers: Sequence[HiddenLayer], dropout: float = 0.0) -> keras.Sequential:
    """Flatten -> Dense per hidden layer, each followed by Dropout as in the seed -> Dense(10, softmax)."""
    layers = [keras.layers.Flatten(name="flatten")]
    for i, layer in enumerate(hidden_layers, start=1):
        layers += _hidden(i, layer.units, layer.activation, dropout)
    return _classifier("dense", layers)


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
    """[(Conv2D -> (BatchNorm) -> ReLU) x convs_per_block -> MaxPool] per filter count -> Dense -> Dense(10)."""
    layers = [keras.layers.Reshape((SIDE, SIDE, 1), name="channel")]
    if augment:  # a mirrored or 2-pixel-shifted garment is the same garment; both do nothing at inference
        layers += [
            keras.layers.RandomFlip("horizontal", name="augment_flip"),
            keras.layers.RandomTranslation(2 / SIDE, 2 / SIDE, fill_mode="constant", name="augment_shift"),
        ]
    for i, n in enumerate(filters, start=1):
        for j in range(1, convs_per_block + 1):
            suffix = f"{i}" if convs_per_block == 1 else f"{i}_{j}"
            conv = keras.layers.Conv2D(n, kernel_size, padding="same", use_bias=not batch_norm, name=f"conv{suffix}")
            norm = [keras.layers.BatchNormalization(name=f"norm{suffix}")] if batch_norm else []
            layers += [conv, *norm, keras.layers.Activation("relu", name=f"relu{suffix}")]
        layers.append(keras.layers.MaxPooling2D(pool_size, name=f"pool{i}"))
    layers.append(keras.layers.Flatten(name="flatten"))
    return _classifier("cnn", layers + _hidden(1, dense_units, "relu", dropout))


def build_model(train: TrainParams) -> keras.Sequential:
    """The network the ``train`` section describes: ``model: dense`` or ``model: cnn``."""
    if train.model == "cnn":
        return build_cnn(dropout=train.dropout, **train.cnn.model_dump())
    return build_dense(train.hidden_layers, train.dropout)


def make_optimizer(
    name: str, learning_rate: float | None = None, momentum: float = 0.9, decay_steps: int | None = None
) -> keras.optimizers.Optimizer:
    """The seed's optimizers (``learning_rate=None``: Keras' default); ``decay_steps``: a cosine decay to 0."""
    if decay_steps:  # from the given rate or Keras' default one (sgd 0.01, others 0.001)
        default = inspect.signature(OPTIMIZERS[name]).parameters["learning_rate"].default
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate or default, decay_steps)
    options = {} if learning_rate is None else {"learning_rate": learning_rate}
    if name in ("momentum", "nesterov"):
        options.update(momentum=momentum, nesterov=name == "nesterov")
    return OPTIMIZERS[name](**options)


@keras.saving.register_keras_serializable(package="luckybag")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Label smoothing for integer labels (Keras' sparse cross-entropy has none): targets 1 - s + s/10, else s/10."""

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
    """Accuracy and the seed's loss; label smoothing swaps in :class:`SmoothedSparseCrossentropy`."""
    loss = SmoothedSparseCrossentropy(label_smoothing) if label_smoothing > 0 else "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], steps_per_execution=steps_per_execution)


def summary_text(model: keras.Model) -> str:
    """Keras' model summary, 80 columns wide."""
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
