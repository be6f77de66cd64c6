import keras
import numpy as np
import pytest

from luckybag.pipeline import params
from luckybag.pipeline.models import OPTIMIZERS, build_dense, make_optimizer, summary_text
from luckybag.pipeline.params import HiddenLayer

SEED_LAYER = [HiddenLayer(units=100, activation="relu")]


def test_seed_model_has_79510_parameters() -> None:
    # Dense(100) on 784 inputs + Dense(10): 78,500 + 1,010, as the seed's model.summary().
    assert build_dense(SEED_LAYER, dropout=0.3).count_params() == 79_510
    assert build_dense([HiddenLayer(units=100, activation="sigmoid")]).count_params() == 79_510


def test_logistic_regression_as_a_network() -> None:
    assert build_dense([], dropout=0).count_params() == 7_850


def test_layers_follow_the_params() -> None:
    model = build_dense(
        [HiddenLayer(units=64, activation="sigmoid"), HiddenLayer(units=32, activation="relu")], dropout=0.2
    )
    names = [layer.name for layer in model.layers]
    assert names == ["scale", "flatten", "hidden1", "dropout1", "hidden2", "dropout2", "output"]
    assert model.get_layer("hidden1").activation.__name__ == "sigmoid"
    assert model.get_layer("dropout2").rate == 0.2
    assert "dropout" not in " ".join(layer.name for layer in build_dense(SEED_LAYER, 0.0).layers)


def test_model_takes_raw_pixels_and_outputs_probabilities() -> None:
    model = build_dense(SEED_LAYER, 0.3)
    probs = np.asarray(model.predict(np.full((4, 28, 28), 255, dtype=np.uint8), verbose=0))
    assert probs.shape == (4, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "cls", "lr", "momentum", "nesterov"),
    [
        ("sgd", keras.optimizers.SGD, 0.01, 0.0, False),
        ("momentum", keras.optimizers.SGD, 0.01, 0.9, False),
        ("nesterov", keras.optimizers.SGD, 0.01, 0.9, True),
        ("rmsprop", keras.optimizers.RMSprop, 0.001, None, None),
        ("adagrad", keras.optimizers.Adagrad, 0.001, None, None),
        ("adam", keras.optimizers.Adam, 0.001, None, None),
    ],
)
def test_optimizers_and_their_defaults(name, cls, lr, momentum, nesterov) -> None:
    optimizer = make_optimizer(name, None, 0.9)
    assert type(optimizer) is cls
    assert float(optimizer.learning_rate) == pytest.approx(lr)
    if momentum is not None:
        assert optimizer.momentum == momentum and optimizer.nesterov == nesterov


def test_every_optimizer_params_allow_is_built_and_no_other() -> None:
    """A name added to params' list alone would pass check-params and fail training with a KeyError."""
    assert list(OPTIMIZERS) == list(params.OPTIMIZERS)
    for name in params.OPTIMIZERS:
        assert isinstance(make_optimizer(name), keras.optimizers.Optimizer)


def test_explicit_learning_rate() -> None:
    assert float(make_optimizer("sgd", 0.1).learning_rate) == pytest.approx(0.1)


def test_summary_text_lists_the_parameter_count() -> None:
    assert "79,510" in summary_text(build_dense(SEED_LAYER, 0.3))


def test_textbook_cnn_parameter_count() -> None:
    # conv32 (320) + conv64 (18,496) + Dense(100) on 7x7x64 (313,700) + Dense(10) (1,010).
    from luckybag.pipeline.models import build_cnn

    assert build_cnn([32, 64], 3, 2, 100, dropout=0.4).count_params() == 333_526


def test_cnn_with_batch_norm_from_params() -> None:
    import yaml

    from luckybag.pipeline.models import build_model
    from luckybag.pipeline.params import TrainParams
    from tests.conftest import ROOT

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    params.update(model="cnn", dropout=0.3, hidden_layers=[])
    params["cnn"].update(filters=[16, 32], dense_units=64, batch_norm=True, augment=True)
    params = TrainParams.model_validate(params)
    model = build_model(params)
    # conv16 no bias (144) + BN (64) + conv32 no bias (4,608) + BN (128) + Dense(64) on 7x7x32 (100,416) + 650
    assert model.count_params() == 144 + 64 + 4_608 + 128 + 100_416 + 650
    names = [layer.name for layer in model.layers]
    assert names[:7] == ["scale", "channel", "augment_flip", "augment_shift", "conv1", "norm1", "relu1"]
    probs = np.asarray(model.predict(np.zeros((2, 28, 28), dtype=np.uint8), verbose=0))
    assert probs.shape == (2, 10)


def test_cosine_schedule_starts_at_the_learning_rate_and_ends_at_zero() -> None:
    optimizer = make_optimizer("sgd", None, 0.9, decay_steps=100)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(50)) == pytest.approx(0.005, rel=1e-4)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)


def test_cnn_with_two_convolutions_per_block() -> None:
    from luckybag.pipeline.models import build_cnn

    model = build_cnn([16, 32], 3, 2, 100, dropout=0.4, convs_per_block=2)
    # 160 + 2,320 | 4,640 + 9,248 | Dense(100) on 7x7x32: 156,900 | 1,010
    assert model.count_params() == 160 + 2_320 + 4_640 + 9_248 + 156_900 + 1_010
    assert [layer.name for layer in model.layers if "conv" in layer.name] == [
        "conv1_1",
        "conv1_2",
        "conv2_1",
        "conv2_2",
    ]


def test_label_smoothing_loss_matches_the_smoothed_targets() -> None:
    from luckybag.pipeline.models import SmoothedSparseCrossentropy, compile_model

    probs = np.array([[0.7, 0.2, 0.1] + [0.0] * 7, [0.1] * 10], dtype="float32")
    labels = np.array([0, 3])
    eps = 0.1
    targets = np.full((2, 10), eps / 10) + np.eye(10)[labels] * (1 - eps)
    expected = -(targets * np.log(np.clip(probs, 1e-7, 1.0))).sum(axis=1).mean()
    assert float(SmoothedSparseCrossentropy(eps)(labels, probs)) == pytest.approx(expected, rel=1e-5)
    plain = -np.log(np.clip(probs[np.arange(2), labels], 1e-7, 1.0)).mean()
    assert float(SmoothedSparseCrossentropy(0.0)(labels, probs)) == pytest.approx(plain, rel=1e-5)
    model = build_dense(SEED_LAYER, 0.3)
    compile_model(model, make_optimizer("adam"), label_smoothing=0.0)
    assert model.loss == "sparse_categorical_crossentropy"  # 0 keeps the seed's loss
