"""The schema of params.yaml: every key, its type and what values are allowed.

Each stage calls :func:`load_section` for its own section; ``luckybag
check-params`` validates the whole file. A bad value is reported as one line
naming the key, the value and what is allowed, before any work is done.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from luckybag.errors import LuckybagError

BACKENDS = ("jax", "tensorflow", "torch")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam")
EXPORT_FORMATS = ("keras", "weights", "savedmodel", "onnx")  # the formats the export stage can reload
ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "gelu", "swish", "softplus", "linear")

PARAMS_FILE = "params.yaml"


class ParamsError(LuckybagError):
    """params.yaml is missing, malformed or holds a value outside the schema."""


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    allowed: str
    check: Callable[[Any], bool] = lambda value: True
    nullable: bool = False


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], bool]:
    return lambda v: (lo is None or v >= lo) and (hi is None or v <= hi)


def _open01(v: float) -> bool:
    return 0.0 < v < 1.0


def _positive(v: float) -> bool:
    return math.isfinite(v) and v > 0


def _hidden_layers(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    for layer in value:
        if not isinstance(layer, dict) or set(layer) != {"units", "activation"}:
            return False
        units = layer["units"]
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            return False
        if layer["activation"] not in ACTIVATIONS:
            return False
    return True


def _checksums(value: dict) -> bool:
    from luckybag.data import FILES

    return set(value) == set(FILES) and all(
        isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v) for v in value.values()
    )


CNN_KEYS = {"filters", "convs_per_block", "kernel_size", "pool_size", "dense_units", "batch_norm", "augment"}


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _cnn(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == CNN_KEYS
        and isinstance(value["filters"], list)
        and len(value["filters"]) >= 1
        and all(_positive_int(f) for f in value["filters"])
        and all(_positive_int(value[k]) for k in ("convs_per_block", "kernel_size", "pool_size", "dense_units"))
        and 28 // value["pool_size"] ** len(value["filters"]) >= 1  # each pooling must leave a pixel
        and isinstance(value["batch_norm"], bool)
        and isinstance(value["augment"], bool)
    )


def _export_formats(value: list) -> bool:
    return all(isinstance(v, str) and v in EXPORT_FORMATS for v in value) and len(set(value)) == len(value)


INT = int
FLOAT = (int, float)

SCHEMA: dict[str, dict[str, Field]] = {
    "download": {
        "mirror": Field(str, "a directory or http(s) URL holding the four .gz files, or null", nullable=True),
        "timeout": Field(FLOAT, "seconds > 0", _positive),
        "sha256": Field(
            dict,
            "null (the official Fashion-MNIST checksums) or a mapping of the four file names to SHA-256 hex digests",
            _checksums,
            nullable=True,
        ),
    },
    "preprocess": {
        "test_size": Field(FLOAT, "a fraction in (0, 1)", _open01),
        "random_state": Field(INT, "an integer >= 0", _int(0)),
    },
    "baseline": {
        "max_iter": Field(INT, "an integer >= 1", _int(1)),
        "cv": Field(INT, "an integer >= 2", _int(2)),
        "random_state": Field(INT, "an integer >= 0", _int(0)),
    },
    "train": {
        "backend": Field(str, f"one of {', '.join(BACKENDS)}", lambda v: v in BACKENDS),
        "seed": Field(INT, "an integer >= 0", _int(0)),
        "model": Field(str, "one of dense, cnn", lambda v: v in ("dense", "cnn")),
        "hidden_layers": Field(
            list,
            f"a list of {{units: int >= 1, activation: one of {', '.join(ACTIVATIONS)}}}",
            _hidden_layers,
        ),
        "cnn": Field(
            dict,
            "{filters: list of ints >= 1, convs_per_block: int >= 1, kernel_size: int >= 1, pool_size: int >= 1 "
            "with 28 // pool_size**len(filters) >= 1, "
            "dense_units: int >= 1, batch_norm: true/false, augment: true/false} (used when model is cnn)",
            _cnn,
        ),
        "dropout": Field(FLOAT, "a rate in [0, 1)", lambda v: 0.0 <= v < 1.0),
        "label_smoothing": Field(FLOAT, "a number in [0, 1)", lambda v: 0.0 <= v < 1.0),
        "optimizer": Field(str, f"one of {', '.join(OPTIMIZERS)}", lambda v: v in OPTIMIZERS),
        "learning_rate": Field(FLOAT, "a number > 0, or null for the optimizer's default", _positive, nullable=True),
        "lr_schedule": Field(
            str, "one of constant, cosine (decay to 0 over the epochs)", lambda v: v in ("constant", "cosine")
        ),
        "momentum": Field(FLOAT, "a number in [0, 1) (used by momentum and nesterov)", lambda v: 0.0 <= v < 1.0),
        "epochs": Field(INT, "an integer >= 1", _int(1)),
        "batch_size": Field(INT, "an integer >= 1", _int(1)),
        "monitor": Field(str, "one of val_loss, val_accuracy", lambda v: v in ("val_loss", "val_accuracy")),
        "patience": Field(INT, "an integer >= 0 (0 disables early stopping)", _int(0)),
        "steps_per_execution": Field(INT, "an integer >= 1", _int(1)),
    },
    "evaluate": {
        "batch_size": Field(INT, "an integer >= 1", _int(1)),
        "calibration_bins": Field(INT, "an integer >= 1 (equal-width confidence bins for ECE)", _int(1)),
        "calibration": Field(
            str,
            "one of temperature, vector, auto (the lower cross-fitted validation NLL)",
            lambda v: v in ("temperature", "vector", "auto"),
        ),
    },
    "export": {
        "tolerance": Field(FLOAT, "a number > 0", _positive),
        "check": Field(
            list,
            "a list of distinct formats from keras, weights, savedmodel, onnx to reload and compare "
            "([]: all are still written, none reloaded)",
            _export_formats,
        ),
    },
}


def _type_ok(value: Any, field: Field) -> bool:
    if value is None:
        return field.nullable
    if isinstance(value, bool):  # yaml's true/false are ints to Python
        return field.kind is bool
    return isinstance(value, field.kind)


def validate_section(name: str, section: Any) -> list[str]:
    """Return one message per problem in ``section``; empty when it is valid."""
    schema = SCHEMA[name]
    if not isinstance(section, dict):
        return [f"params: '{name}' must be a mapping of {', '.join(schema)}"]
    problems = []
    for key in section:
        if key not in schema:
            problems.append(f"params: unknown key '{name}.{key}' (allowed: {', '.join(schema)})")
    for key, field in schema.items():
        if key not in section:
            problems.append(f"params: missing key '{name}.{key}' ({field.allowed})")
            continue
        value = section[key]
        if not _type_ok(value, field) or (value is not None and not field.check(value)):
            problems.append(f"params: '{name}.{key}' is {value!r}; expected {field.allowed}")
    return problems


def read_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the project root)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections ({', '.join(SCHEMA)})")
    return data


def validate(params: dict[str, Any]) -> list[str]:
    problems = [
        f"params: unknown section '{name}' (allowed: {', '.join(SCHEMA)})" for name in params if name not in SCHEMA
    ]
    for name in SCHEMA:
        if name not in params:
            problems.append(f"params: missing section '{name}'")
        else:
            problems.extend(validate_section(name, params[name]))
    return problems


def load_section(name: str, path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Validate the whole of params.yaml, then return one section.

    Every stage checks every section, so a bad value anywhere stops the first stage of
    `dvc repro` / `dvc exp run` before any heavy work or output, not the stage that uses it.
    """
    params = read_params(path)
    problems = validate(params)
    if problems:
        raise ParamsError(problems_message(problems))
    return dict(params[name])


def problems_message(problems: list[str]) -> str:
    """One problem as one line; several as a count, then one indented line each."""
    if len(problems) == 1:
        return problems[0]
    return f"params: {len(problems)} problems\n" + "\n".join(f"  {problem}" for problem in problems)
