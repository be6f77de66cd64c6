"""The schema of params.yaml as pydantic models: every key, its type and what values are allowed."""

import functools
import operator
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from luckybag.contract import EXPORT_FILES, SIDE
from luckybag.errors import LuckybagError

Backend = Literal["jax", "tensorflow", "torch"]
# The names train.optimizer allows; luckybag.pipeline.models.OPTIMIZERS maps each (a test holds them together).
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam")
Optimizer = Literal[OPTIMIZERS]  # type: ignore[valid-type]
ExportFormat = Literal[tuple(EXPORT_FILES)]  # type: ignore[valid-type]  # the formats the export stage can reload
Activation = Literal["relu", "sigmoid", "tanh", "elu", "selu", "gelu", "swish", "softplus", "linear"]
BACKENDS = get_args(Backend)
# not float alone: pydantic would turn a yaml 0 into 0.0, and DVCLive logs what it gets
Number = Annotated[int | float, Field(allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=0, description="an integer >= 0")]
Count = Annotated[int, Field(ge=1, description="an integer >= 1")]

PARAMS_FILE = "params.yaml"


class ParamsError(LuckybagError):
    """params.yaml is missing, malformed or holds a value outside the schema."""


def _official_file_names(checksums: dict[str, str]) -> dict[str, str]:
    from luckybag.pipeline.data import FILES

    if set(checksums) != set(FILES) or not all(re.fullmatch("[0-9a-f]{64}", v) for v in checksums.values()):
        raise ValueError("not the four file names with SHA-256 hex digests")
    return checksums


def _distinct(formats: list[str]) -> list[str]:
    if len(set(formats)) != len(formats):
        raise ValueError("a format is listed twice")
    return formats


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class DownloadParams(Section):
    mirror: str | None = Field(description="a directory or http(s) URL holding the four .gz files, or null")
    timeout: Number = Field(gt=0, description="seconds > 0")
    sha256: Annotated[dict[str, str], AfterValidator(_official_file_names)] | None = Field(
        description="null (the official Fashion-MNIST checksums) or a mapping of the four file names to SHA-256 "
        "hex digests"
    )


class PreprocessParams(Section):
    test_size: Number = Field(gt=0, lt=1, description="a fraction in (0, 1)")
    random_state: Seed


class BaselineParams(Section):
    max_iter: Count
    cv: int = Field(ge=2, description="an integer >= 2")
    random_state: Seed


class HiddenLayer(Section):
    units: PositiveInt
    activation: Activation


class CnnParams(Section):
    filters: list[PositiveInt] = Field(min_length=1)
    convs_per_block: PositiveInt
    kernel_size: PositiveInt
    pool_size: PositiveInt
    dense_units: PositiveInt
    batch_norm: bool
    augment: bool

    @model_validator(mode="after")
    def _pooling_leaves_a_pixel(self) -> Self:
        if SIDE // self.pool_size ** len(self.filters) < 1:
            raise ValueError("each pooling must leave a pixel")
        return self


class TrainParams(Section):
    backend: Backend
    seed: Seed
    model: Literal["dense", "cnn"]
    hidden_layers: list[HiddenLayer] = Field(
        description=f"a list of {{units: int >= 1, activation: one of {', '.join(get_args(Activation))}}}"
    )
    cnn: CnnParams = Field(
        description="{filters: list of ints >= 1, convs_per_block: int >= 1, kernel_size: int >= 1, pool_size: "
        "int >= 1 with 28 // pool_size**len(filters) >= 1, dense_units: int >= 1, batch_norm: true/false, "
        "augment: true/false} (used when model is cnn)"
    )
    dropout: Number = Field(ge=0, lt=1, description="a rate in [0, 1)")
    label_smoothing: Number = Field(ge=0, lt=1, description="a number in [0, 1)")
    optimizer: Optimizer
    learning_rate: Annotated[Number, Field(gt=0)] | None = Field(
        description="a number > 0, or null for the optimizer's default"
    )
    lr_schedule: Literal["constant", "cosine"] = Field(
        description="one of constant, cosine (decay to 0 over the epochs)"
    )
    momentum: Number = Field(ge=0, lt=1, description="a number in [0, 1) (used by momentum and nesterov)")
    epochs: Count
    batch_size: Count
    monitor: Literal["val_loss", "val_accuracy"]
    patience: int = Field(ge=0, description="an integer >= 0 (0 disables early stopping)")
    steps_per_execution: Count


class EvaluateParams(Section):
    batch_size: Count
    calibration_bins: int = Field(ge=1, description="an integer >= 1 (equal-width confidence bins for ECE)")
    calibration: Literal["temperature", "vector", "auto"] = Field(
        description="one of temperature, vector, auto (the lower cross-fitted validation NLL)"
    )


class ExportParams(Section):
    tolerance: Number = Field(gt=0, description="a number > 0")
    check: Annotated[list[ExportFormat], AfterValidator(_distinct)] = Field(
        description=f"a list of distinct formats from {', '.join(get_args(ExportFormat))} to reload and compare "
        "([]: all are still written, none reloaded)"
    )


class Params(Section):
    download: DownloadParams
    preprocess: PreprocessParams
    baseline: BaselineParams
    train: TrainParams
    evaluate: EvaluateParams
    export: ExportParams


SECTIONS: dict[str, type[Section]] = {name: field.annotation for name, field in Params.model_fields.items()}
UNKNOWN = ("extra_forbidden", "invalid_key")  # invalid_key: a key YAML read as a number or a bool (`on:`)


def _problem(loc: tuple, kind: str, data: Any) -> str:
    """A pydantic error as one line naming the key, its value and what is allowed."""
    if not loc:
        return f"params: expected a mapping of sections ({', '.join(SECTIONS)})"
    if kind == "invalid_key":  # pydantic reports YAML's `on:` (True) as 1: name the key as YAML read it
        container = functools.reduce(operator.getitem, loc[:-1], data)  # data[loc[0]][loc[1]]...: the key's mapping
        keys_as_read = [key for key in container if key == loc[-1] and not isinstance(key, str)]  # True == 1
        loc = (*loc[:-1], keys_as_read[0] if keys_as_read else loc[-1])
    if len(loc) == 1 and kind in UNKNOWN:
        return f"params: unknown section '{loc[0]}' (allowed: {', '.join(SECTIONS)})"
    if len(loc) == 1 and kind == "missing":
        return f"params: missing section '{loc[0]}'"
    fields = SECTIONS[loc[0]].model_fields
    if len(loc) == 1:
        return f"params: '{loc[0]}' must be a mapping of {', '.join(fields)}"
    key = ".".join(map(str, loc[:2]))
    if len(loc) == 2 and kind in UNKNOWN:
        return f"params: unknown key '{key}' (allowed: {', '.join(fields)})"
    field = fields[loc[1]]
    allowed = field.description or f"one of {', '.join(get_args(field.annotation))}"  # a Literal's choices
    if len(loc) == 2 and kind == "missing":
        return f"params: missing key '{key}' ({allowed})"
    return f"params: '{key}' is {data[loc[0]][loc[1]]!r}; expected {allowed}"


def validate(data: Any) -> list[str]:
    """One message per wrong key of the whole file; empty when it is valid."""
    try:
        Params.model_validate(data)
    except ValidationError as err:
        errors = sorted(err.errors(), key=lambda e: (len(e["loc"]), e["type"] not in UNKNOWN))  # sections first
        return list(dict.fromkeys(_problem(e["loc"], e["type"], data) for e in errors))
    return []


def read_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """params.yaml as PyYAML reads it; a one-line error if it is missing or not a YAML mapping."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the project root)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)  # where the parser stopped, if it knows; its lines count from 0
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)})")
    return data


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """The whole params file, typed; one ParamsError naming every wrong key."""
    data = read_params(path)
    if problems := validate(data):  # one problem as one line; several as a count, then one indented line each
        several = f"params: {len(problems)} problems\n" + "\n".join(f"  {problem}" for problem in problems)
        raise ParamsError(problems[0] if len(problems) == 1 else several)
    return Params.model_validate(data)


def load_section(name: str, path: str | Path = PARAMS_FILE) -> Any:
    """One typed section, after checking the whole file: a bad value anywhere stops every stage before its work."""
    return getattr(load_params(path), name)
