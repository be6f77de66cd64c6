"""Search spaces in YAML: Optuna distributions for params.yaml keys, fixed values, and enqueued points."""

import itertools
import json
from pathlib import Path
from typing import Any, NamedTuple

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from luckybag.errors import LuckybagError
from luckybag.lab.tools import last_line

DIRECTIONS = {"val accuracy": "maximize", "val loss": "minimize"}  # validation figures only: never a test figure


class SearchError(LuckybagError):
    """A bad space file or storage, or a worker that cannot join its study."""


class Space(NamedTuple):
    study: str
    distributions: dict[str, BaseDistribution]  # Optuna's param name -> its range
    fixed: dict[str, Any]  # params.yaml key -> value, in every trial
    points: tuple[dict[str, Any], ...] = ()  # enqueued trials' user attrs: each runs once ("point", "label", "set")
    n_trials: int = 20
    workers: int = 1
    seed: int | None = None
    objective: str = "val accuracy"
    layered: tuple[str, ...] = ()  # keys sampled as .layers x .units x .activation (train.hidden_layers)


def encode(choice: Any) -> Any:
    """Optuna's categorical choices are scalars: a list or mapping travels as its JSON text."""
    return choice if choice is None or isinstance(choice, bool | int | float | str) else json.dumps(choice)


def distribution(spec: Any, where: str) -> BaseDistribution:
    """``{categorical: [...]}``, ``{int: [low, high]}`` or ``{float: [low, high], log: true}`` (``step`` optional)."""
    kinds = [kind for kind in ("categorical", "int", "float") if isinstance(spec, dict) and kind in spec]
    if len(kinds) != 1 or set(spec) - {kinds[0], "log", "step"}:
        raise SearchError(
            f"{where}: expected one of {{categorical: [...]}}, {{int: [low, high]}}, {{float: [low, high]}}"
        )
    kind, values = kinds[0], spec[kinds[0]]
    try:
        if kind == "categorical":
            if not isinstance(values, list) or not values:
                raise ValueError("categorical needs a non-empty list")
            return CategoricalDistribution([encode(value) for value in values])
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError(f"{kind} needs [low, high]")
        options = {"log": bool(spec.get("log", False)), "step": spec.get("step")}
        if kind == "int":
            return IntDistribution(int(values[0]), int(values[1]), options["log"], options["step"] or 1)
        return FloatDistribution(float(values[0]), float(values[1]), **options)
    except (TypeError, ValueError) as err:
        raise SearchError(f"{where}: {last_line(str(err))}") from None


def param_distributions(params: Any, where: str) -> tuple[dict[str, BaseDistribution], tuple[str, ...]]:
    if not isinstance(params, dict) or not params:
        raise SearchError(f"{where}: 'params' must map params.yaml keys to ranges")
    found: dict[str, BaseDistribution] = {}
    layered = []
    for key, spec in params.items():
        if isinstance(spec, dict) and set(spec) == {"layers", "units", "activation"}:  # a dense network's shape
            layered.append(key)
            found |= {f"{key}.{part}": distribution(spec[part], f"{where}: {key}.{part}") for part in spec}
        else:
            found[key] = distribution(spec, f"{where}: {key}")
    return found, tuple(layered)


def grid_points(distributions: dict[str, BaseDistribution], where: str) -> tuple[dict[str, Any], ...]:
    """``sampler: grid``: every combination of categorical choices and int values, as enqueued params."""
    axes = []
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            axes.append([(name, choice) for choice in dist.choices])
        elif isinstance(dist, IntDistribution) and not dist.log:
            axes.append([(name, value) for value in range(dist.low, dist.high + 1, dist.step)])
        else:
            raise SearchError(f"{where}: sampler grid takes categorical and int params only, not {name!r}")
    return tuple({"point": json.dumps(dict(combo)), "params": dict(combo)} for combo in itertools.product(*axes))


def load_space(path: Path, raw: Any) -> Space:
    """A search space from a YAML mapping (``study``, ``params``, ``defaults``, ``sampler``, ``n_trials``, ...)."""
    from luckybag.lab.grid import check_overrides  # the keys and values `dvc exp run -S` takes

    known = {"study", "params", "defaults", "sampler", "n_trials", "workers", "seed", "objective"}
    if not isinstance(raw, dict) or set(raw) - known:
        raise SearchError(f"{path}: expected a mapping with {', '.join(sorted(known))}")
    distributions, layered = param_distributions(raw.get("params"), str(path))
    sampler, objective = raw.get("sampler", "tpe"), raw.get("objective", "val accuracy")
    if sampler not in ("tpe", "grid") or objective not in DIRECTIONS:
        raise SearchError(f"{path}: sampler is tpe or grid, objective one of {', '.join(DIRECTIONS)}")
    points = grid_points(distributions, str(path)) if sampler == "grid" else ()
    counts = {key: raw.get(key, default) for key, default in (("n_trials", len(points) or 20), ("workers", 1))}
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in counts.values()):
        raise SearchError(f"{path}: n_trials and workers are whole numbers >= 1")
    seed = raw.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise SearchError(f"{path}: seed is a whole number or null")
    fixed = check_overrides(raw.get("defaults"), f"{path}: defaults")
    study = str(raw.get("study") or path.stem)
    return Space(study, distributions, fixed, points, counts["n_trials"], counts["workers"], seed, objective, layered)


def suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    kind = trial.suggest_int if isinstance(dist, IntDistribution) else trial.suggest_float
    return kind(name, dist.low, dist.high, step=dist.step, log=dist.log)


def trial_values(space: Space, trial: optuna.Trial) -> dict[str, Any]:
    """The params.yaml values of a trial: an enqueued point's, or each distribution's suggestion."""
    if "set" in trial.user_attrs:
        return dict(trial.user_attrs["set"])
    values = dict(space.fixed)
    for name, dist in space.distributions.items():
        value = suggest(trial, name, dist)
        values[name] = json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value  # encode()d
    for key in space.layered:
        n, units, activation = (values.pop(f"{key}.{part}") for part in ("layers", "units", "activation"))
        values[key] = [{"units": units, "activation": activation}] * n
    return values


def read_space(path: Path) -> Space:
    from luckybag.lab.runs import read_yaml

    return load_space(path, read_yaml(path))
