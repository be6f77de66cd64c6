"""Rows of `dvc exp show --json` and their markdown table cells."""

import json
import math
from collections.abc import Sequence
from typing import Any

MISSING = object()
METRICS = {  # the reports' metric columns: (metrics file, key) in `dvc exp show --json`
    "parameters": ("metrics/train.json", "params_count"),
    "best epoch": ("metrics/train.json", "best_epoch"),
    "epochs run": ("metrics/train.json", "epochs_run"),
    "val accuracy": ("metrics/eval.json", "val.accuracy"),
    "val loss": ("metrics/eval.json", "val.loss"),
    "test accuracy": ("metrics/eval.json", "test.accuracy"),
    "test ECE": ("metrics/eval.json", "test.ece"),
    "test ECE calibrated": ("metrics/eval.json", "test.calibrated.ece"),
    "baseline accuracy": ("metrics/baseline.json", "mean_accuracy"),
}


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return MISSING
        data = data[key]
    return data


def param_of(row: dict[str, Any], key: str) -> Any:
    return dig(row, "data", "params", "params.yaml", "data", *key.split("."))


def metric_of(row: dict[str, Any], column: str) -> Any:
    path, key = METRICS[column]
    return dig(row, "data", "metrics", path, "data", *key.split("."))


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys (``train.cnn.filters``); lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat |= flatten(value, f"{prefix}{key}.") if isinstance(value, dict) and value else {f"{prefix}{key}": value}
    return flat


def flat_params(row: dict[str, Any] | None) -> dict[str, Any]:
    data = dig(row or {}, "data", "params", "params.yaml", "data")
    return flatten(data) if isinstance(data, dict) else {}


def changed_params(row: dict[str, Any], baseline_row: dict[str, Any] | None) -> dict[str, Any]:
    """The params whose value in ``row`` differs from the baseline's, by key: added, changed, removed (MISSING)."""
    new, old = flat_params(row), flat_params(baseline_row)
    return {key: new.get(key, MISSING) for key in sorted(new | old) if new.get(key, MISSING) != old.get(key, MISSING)}


def experiment_rows(shown: Any, baseline: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The baseline commit's row and, by name, the newest row of each experiment derived from it."""
    baseline_row, rows = None, {}
    for row in shown if isinstance(shown, list) else []:
        if not isinstance(row, dict) or row.get("rev") != baseline:
            continue
        baseline_row = row
        for group in row.get("experiments") or []:
            for exp in (group or {}).get("revs") or []:
                name = exp.get("name") or group.get("name")
                old = rows.get(name)
                if name and (old is None or str(dig(exp, "data", "timestamp")) > str(dig(old, "data", "timestamp"))):
                    rows[name] = exp
    return baseline_row, rows


def number(value: Any) -> float | None:
    finite = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if finite else None


def cell(value: Any, column: str = "") -> str:
    """A table cell: ``—`` for missing, ECE in %, accuracy and loss to 4 decimals, other numbers to 6 digits."""
    if value is MISSING:
        return "—"
    if number(value) is not None and "ECE" in column:
        return f"{100 * value:.2f} %"
    if number(value) is not None and isinstance(value, float) and ("accuracy" in column or "loss" in column):
        return f"{value:.4f}"
    if number(value) is not None and isinstance(value, int) and column == "parameters":
        return f"{value:,}"
    if isinstance(value, float):
        return format(value, ".6g")
    text = json.dumps(value) if value is None or isinstance(value, bool | list | dict) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def validation_size(row: dict[str, Any] | None) -> int:
    """Images in the validation split: the supports of a row's metrics/per_class.json, else Fashion-MNIST's 12,000."""
    classes = dig(row or {}, "data", "metrics", "metrics/per_class.json", "data", "val")
    supports = [number(dig(c, "support")) for c in classes.values()] if isinstance(classes, dict) else []
    return int(sum(n for n in supports if n)) or 12000


def standard_error(accuracy: float, n: int) -> float:
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(n, 1))


def within_noise(best: float, value: float, n: int) -> bool:
    """Within two standard errors of the difference of two independent accuracies on ``n`` images."""
    return abs(best - value) <= 2 * math.hypot(standard_error(best, n), standard_error(value, n))
