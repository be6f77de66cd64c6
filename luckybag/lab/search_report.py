"""reports/search.md: a study's trials, best first, from the study and `dvc exp show --json`, with Optuna's figures."""

import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from luckybag.io import write_text
from luckybag.lab.experiments import (
    cell,
    experiment_rows,
    metric_of,
    standard_error,
    table,
    validation_size,
    within_noise,
)
from luckybag.lab.space import DIRECTIONS, Space
from luckybag.lab.tools import dvc_json

SHOWN = 20  # best trials in the table


def figures(study: optuna.Study, out: Path) -> list[str]:
    """The optimization history and the param importances as PNGs beside ``out`` (importances need 2+ trials)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from optuna.visualization import matplotlib as vis

    made = []
    for suffix, title, plot in (
        ("history", "Optimization history", vis.plot_optimization_history),
        ("importances", "Param importances", vis.plot_param_importances),
    ):
        path = out.with_name(f"{out.stem}_{suffix}.png")
        path.unlink(missing_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError):  # too few trials, or no param that varies
            continue
        axes.figure.set_size_inches(8, 5)
        axes.figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(axes.figure)
        made.append(f"![{title}]({path.name})")
    return made


def param_keys(space: Space, trials: list[FrozenTrial]) -> list[str]:
    if space.distributions:
        return list(space.distributions)
    return list(dict.fromkeys(key for t in trials for key in t.user_attrs.get("set", {})))


def trial_row(rank: int, trial: FrozenTrial, keys: list[str], best: float, n: int, rows: dict[str, Any]) -> list[str]:
    name = trial.user_attrs.get("name", "")
    row = rows.get(name, {})
    values = trial.params | trial.user_attrs.get("set", {})
    value = float(trial.value)
    noise = "≈" if within_noise(best, value, n) else ""
    figure = f"{value:.4f} ± {standard_error(value, n):.4f}"
    return [
        str(rank),
        f"`{name}`",
        noise,
        figure,
        *(cell(values.get(key)) for key in keys),
        cell(metric_of(row, "val loss"), "loss"),
        cell(metric_of(row, "test accuracy"), "accuracy"),
        "yes" if row else "no",
    ]


def render(study: optuna.Study, space: Space, base: str, shown: Any, pictures: list[str]) -> str:
    trials = study.get_trials(deepcopy=False)
    maximize = DIRECTIONS[space.objective] == "maximize"
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value, reverse=maximize)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    rows = experiment_rows(shown, base)[1]
    best_row = rows.get(done[0].user_attrs.get("name", "")) if done else None
    n, keys = validation_size(best_row), param_keys(space, trials)
    blocks = [
        f"# Search: study `{space.study}`",
        f"{len(done)} trials done, {len(failed)} failed, "
        f"{sum(t.state == TrialState.RUNNING for t in trials)} running, from commit `{base[:7]}`; ranked by "
        f"{space.objective} (validation only; test accuracy is shown for information and chose nothing).",
    ]
    if done:
        best = done[0]
        blocks.append(
            f"**Best: `{best.user_attrs.get('name')}`** — {space.objective} {best.value:.4f}. The standard error of "
            f"an accuracy p on the {n:,} validation images is sqrt(p(1-p)/{n}) (about "
            f"{standard_error(best.value, n):.4f} here); ≈ marks trials within two standard errors of the "
            "difference from the best: on one seed each, they are not told apart."
        )
        header = [
            "#",
            "experiment",
            "≈ best",
            f"{space.objective} ± SE",
            *(f"`{k}`" for k in keys),
            "val loss",
            "test accuracy (info only)",
            "in `dvc exp show`",
        ]
        top = [trial_row(i, t, keys, best.value, n, rows) for i, t in enumerate(done[:SHOWN], 1)]
        blocks += [table(header, top), *pictures]
    if failed:
        reasons = [
            f"- `{t.user_attrs.get('name', t.number)}` — {t.user_attrs.get('reason', 'its worker stopped')}"
            for t in failed
        ]
        blocks += ["## Failed trials", "\n".join(reasons)]
    if done:
        name = done[0].user_attrs.get("name")
        blocks += ["## Adopt the best", f"```bash\ndvc exp apply {name} && dvc pull\n```"]
    blocks.append(f"*Written {datetime.now().isoformat(timespec='seconds')} by `luckybag search`.*")
    return "\n\n".join(blocks) + "\n"


def write_search_report(study: optuna.Study, space: Space, base: str, out: Path) -> Path:
    shown = dvc_json(["exp", "show"])
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, render(study, space, base, shown, figures(study, out)))
    return out
