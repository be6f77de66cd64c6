from pathlib import Path

import pytest
import yaml

from luckybag import cli
from luckybag.pipeline import params
from luckybag.pipeline.params import ParamsError
from tests.conftest import ROOT


@pytest.fixture
def defaults() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_committed_params_are_valid(defaults: dict) -> None:
    assert params.validate(defaults) == []


def test_defaults_are_the_seeds_final_setup(defaults: dict) -> None:
    train = defaults["train"]
    assert train["hidden_layers"] == [{"units": 100, "activation": "relu"}]
    assert (train["dropout"], train["optimizer"], train["epochs"], train["patience"], train["batch_size"]) == (
        0.3,
        "adam",
        20,
        2,
        32,
    )
    assert defaults["baseline"]["max_iter"] == 5
    assert (defaults["preprocess"]["test_size"], defaults["preprocess"]["random_state"]) == (0.2, 42)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("train", "dropout", 1.0, "'train.dropout' is 1.0; expected a rate in [0, 1)"),
        ("train", "dropout", -0.1, "'train.dropout' is -0.1"),
        ("train", "epochs", 0, "'train.epochs' is 0; expected an integer >= 1"),
        ("train", "epochs", 2.5, "'train.epochs' is 2.5"),
        ("train", "epochs", True, "'train.epochs' is True"),
        ("train", "optimizer", "adamw", "'train.optimizer' is 'adamw'; expected one of sgd, momentum"),
        ("train", "backend", "theano", "'train.backend' is 'theano'; expected one of jax, tensorflow, torch"),
        ("train", "hidden_layers", [{"units": 100, "activation": "softmaxx"}], "'train.hidden_layers'"),
        ("train", "hidden_layers", [{"units": 0, "activation": "relu"}], "'train.hidden_layers'"),
        ("train", "learning_rate", 0, "'train.learning_rate' is 0"),
        ("preprocess", "test_size", 1.0, "'preprocess.test_size' is 1.0; expected a fraction in (0, 1)"),
        ("preprocess", "test_size", "0.2", "'preprocess.test_size' is '0.2'"),
        ("baseline", "cv", 1, "'baseline.cv' is 1; expected an integer >= 2"),
        ("download", "sha256", {"a": "b"}, "'download.sha256'"),
    ],
)
def test_bad_value_is_one_line_naming_key_value_and_allowed(
    defaults: dict, section: str, key: str, value: object, expected: str
) -> None:
    defaults[section][key] = value
    problems = params.validate(defaults)
    assert len(problems) == 1
    assert expected in problems[0]


def test_unknown_and_missing_keys(defaults: dict) -> None:
    defaults["train"]["dropuot"] = 0.3
    del defaults["train"]["dropout"]
    problems = params.validate(defaults)
    assert any("unknown key 'train.dropuot'" in p for p in problems)
    assert any("missing key 'train.dropout'" in p for p in problems)


def test_unknown_section(defaults: dict) -> None:
    defaults["tarin"] = {}
    assert params.validate(defaults) == [
        "params: unknown section 'tarin' (allowed: download, preprocess, baseline, train, evaluate, export)"
    ]


def test_keys_yaml_reads_as_numbers_or_bools_are_unknown(tmp_path: Path, defaults: dict) -> None:
    path = tmp_path / "params.yaml"
    text = yaml.safe_dump(defaults)
    path.write_text(text + "on: 1\n")  # YAML 1.1 reads `on` as True
    with pytest.raises(ParamsError, match=r"^params: unknown section 'True' \(allowed: download, "):
        params.load_params(path)
    defaults["train"][5] = 1
    assert params.validate(defaults) == [
        f"params: unknown key 'train.5' (allowed: {', '.join(params.TrainParams.model_fields)})"
    ]


def test_unknown_keys_come_first(defaults: dict) -> None:
    defaults["train"].update(epochs=0, zz=1)
    defaults["bogus"] = 1
    assert [p.split("'")[1] for p in params.validate(defaults)] == ["bogus", "train.zz", "train.epochs"]


def test_load_section_raises_listing_all_problems(tmp_path: Path, defaults: dict) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(defaults))
    assert params.load_section("evaluate", path).model_dump() == defaults["evaluate"]
    defaults["train"].update(epochs=0, dropout=2)
    path.write_text(yaml.safe_dump(defaults))
    for section in ("train", "download"):  # any stage stops on a bad value anywhere
        with pytest.raises(ParamsError) as err:
            params.load_section(section, path)
        assert "train.epochs" in str(err.value) and "train.dropout" in str(err.value)


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: [1,\n")
    with pytest.raises(ParamsError, match=r"params\.yaml: not valid YAML at line \d"):
        params.read_params(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="file not found"):
        params.read_params(tmp_path / "nope.yaml")


def test_check_params_cli(tmp_path: Path, defaults: dict, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(defaults))
    assert cli.main(["check-params", str(path)]) == 0
    defaults["train"]["optimizer"] = "adamx"
    path.write_text(yaml.safe_dump(defaults))
    assert cli.main(["check-params", str(path)]) == 2
    assert capsys.readouterr().err == (
        "error: params: 'train.optimizer' is 'adamx'; expected one of sgd, momentum, nesterov, rmsprop, adagrad, adam\n"
    )


def test_cnn_whose_pooling_leaves_no_pixels_is_rejected(defaults: dict) -> None:
    defaults["train"]["cnn"].update(filters=[8, 8, 8], pool_size=4)  # 28 -> 7 -> 1 -> 0
    (problem,) = params.validate(defaults)
    assert "'train.cnn'" in problem and "28 // pool_size**len(filters) >= 1" in problem
    defaults["train"]["cnn"].update(filters=[8, 8, 8], pool_size=3)  # 28 -> 9 -> 3 -> 1
    assert params.validate(defaults) == []


def test_several_problems_are_counted_one_line_each(tmp_path: Path, defaults: dict) -> None:
    defaults["train"].update(epochs=0, dropout=2)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(defaults))
    with pytest.raises(ParamsError) as err:
        params.load_section("train", path)
    assert str(err.value).splitlines() == [
        "params: 2 problems",
        "  params: 'train.dropout' is 2; expected a rate in [0, 1)",
        "  params: 'train.epochs' is 0; expected an integer >= 1",
    ]
    defaults["train"]["epochs"] = 20  # a single problem stays one line, with no count
    path.write_text(yaml.safe_dump(defaults))
    with pytest.raises(ParamsError) as err:
        params.load_section("train", path)
    assert str(err.value) == "params: 'train.dropout' is 2; expected a rate in [0, 1)"
