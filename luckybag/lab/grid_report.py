"""reports/grid.md: the grid's experiments from `dvc exp show --json`, best first, and their validation-loss figure."""

import csv
import math
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from luckybag.io import write_text
from luckybag.lab.experiments import (
    cell,
    changed_params,
    experiment_rows,
    metric_of,
    number,
    param_of,
    standard_error,
    table,
    validation_size,
    within_noise,
)
from luckybag.lab.tools import dvc_json, git_file

if TYPE_CHECKING:
    from luckybag.lab.grid import Grid

COLUMNS = ("val accuracy", "val loss", "test accuracy", "best epoch", "epochs run")  # of experiments.METRICS
REPORT_ROW = re.compile(r"^\| \d+ \| `([^`]+)` \|", re.MULTILINE)
Row = dict[str, Any]


def ranked_rows(grid: "Grid", rows: dict[str, Row]) -> list[Row]:
    """The grid's experiments: best validation accuracy first, then lowest loss, then name."""

    def key(row: Row) -> tuple[float, float, str]:
        accuracy, loss = (number(metric_of(row, column)) for column in ("val accuracy", "val loss"))
        return (-accuracy if accuracy is not None else math.inf, loss if loss is not None else math.inf, row["name"])

    names = {exp.name for exp in grid.experiments}
    return sorted((row for name, row in rows.items() if name in names), key=key)


def noise_mark(row: Row, best: float | None, n: int) -> str:
    accuracy = number(metric_of(row, "val accuracy"))
    return "≈" if best is not None and accuracy is not None and within_noise(best, accuracy, n) else ""


def table_rows(keys: list[str], ranked: list[Row], baseline_row: Row | None, n: int) -> list[list[str]]:
    """One row per experiment, and the baseline's CV mean accuracy as a reference row where it ranks."""
    best = number(metric_of(ranked[0], "val accuracy")) if ranked else None
    rows = [
        [str(rank), f"`{row['name']}`", *(cell(param_of(row, key)) for key in keys)]
        + [cell(metric_of(row, column), column) for column in COLUMNS]
        + [noise_mark(row, best, n)]
        for rank, row in enumerate(ranked, 1)
    ]
    reference = number(metric_of(baseline_row or {}, "baseline accuracy"))
    if reference is not None:
        accuracies = [number(metric_of(row, "val accuracy")) for row in ranked]
        position = sum(1 for accuracy in accuracies if accuracy is not None and accuracy >= reference)
        label = "*reference: logistic-regression baseline, CV mean accuracy*"
        rows.insert(position, ["", label, *[""] * len(keys), f"*{reference:.4f}*", *[""] * len(COLUMNS)])
    return rows


def pivot(grid: "Grid", rows: dict[str, Row], best: float | None, n: int) -> str:
    """Val accuracy by the first axis's options (rows) and the second's (columns), ≈ within noise of the best."""
    (first, firsts), (second, seconds) = grid.axes[:2]
    names = {exp.labels[:2]: exp.name for exp in grid.experiments}

    def entry(a: str, b: str) -> str:
        row = rows.get(names.get((a, b), ""), {})
        figure = cell(metric_of(row, "val accuracy"), "accuracy") if row else "—"
        return f"{figure} {noise_mark(row, best, n)}".strip() if row else figure

    return table([f"{first} \\ {second}", *seconds], [[a, *(entry(a, b) for b in seconds)] for a in firsts])


def val_loss_curve(rev: str) -> tuple[list[int], list[float]]:
    """An experiment's per-epoch validation loss from its commit's DVCLive TSV (step 0 is epoch 1)."""
    content = git_file(rev, "dvclive/plots/metrics/eval/loss.tsv")
    try:
        rows = list(csv.DictReader(content.decode().splitlines(), delimiter="\t")) if content else []
        return [int(float(row["step"])) + 1 for row in rows], [float(row["loss"]) for row in rows]
    except (KeyError, TypeError, ValueError):
        return [], []


def render_report(
    grid: "Grid", grid_path: Path, baseline: str, shown: Any, failures: dict[str, str], figure: Path | None
) -> str:
    """The report's markdown; ``failures`` maps the experiments that failed or did not run now to why."""
    baseline_row, rows = experiment_rows(shown, baseline)
    ranked = ranked_rows(grid, rows)
    others = sorted(set().union(*(changed_params(row, baseline_row) for row in ranked)) - set(grid.keys))
    keys = [*grid.keys, *others]
    header = ["#", "experiment", *(f"`{key}`" for key in keys), *COLUMNS, "≈ best"]
    n = validation_size(ranked[0] if ranked else baseline_row)
    blocks = [
        f"# Experiment grid: {grid_path}",
        f"{len(ranked)} of {len(grid.experiments)} experiments of `{grid_path}` derived from commit "
        f"`{baseline[:7]}`, best validation accuracy first. Every number comes from `dvc exp show --json`; "
        "val loss and accuracy are those of the restored best epoch.",
    ]
    if ranked:
        best = ranked[0]
        blocks.append(
            f"**Best: `{best['name']}`** — val accuracy {cell(metric_of(best, 'val accuracy'), 'accuracy')}, "
            f"test accuracy {cell(metric_of(best, 'test accuracy'), 'accuracy')}."
        )
    if others:
        blocks.append(
            f"**Not from the committed params:** {', '.join(f'`{key}`' for key in others)} "
            f"differ from commit `{baseline[:7]}` in some experiments although the grid does not set them "
            "(shown after the grid's columns)."
        )
    elif ranked:
        blocks.append(f"Every param the grid does not set is the committed one of `{baseline[:7]}`.")
    blocks.append(table(header, table_rows(keys, ranked, baseline_row, n)))
    if ranked:
        best = number(metric_of(ranked[0], "val accuracy"))
        blocks.append(
            f"The standard error of a validation accuracy p on {n:,} images is sqrt(p(1-p)/{n}) "
            f"(about {standard_error(best or 0.0, n):.4f} at the best); ≈ marks experiments within two standard "
            "errors of the difference from the best: one seed each does not tell them apart."
        )
        if len(grid.axes) == 2:
            blocks.append(pivot(grid, rows, best, n))
    if figure is not None:
        blocks.append(f"![Validation loss per epoch of every experiment]({figure.name})")
    missing = "no result in `dvc exp show` for this commit (not run yet, or it failed)"
    failed = failures | {e.name: missing for e in grid.experiments if e.name not in rows and e.name not in failures}
    if failed:
        blocks += ["## Failed or not run", "\n".join(f"- `{name}` — {why}" for name, why in failed.items())]
    if ranked:
        blocks += [
            "## Compare",
            "Interactive loss and accuracy curves and confusion matrices of these experiments, best first:",
            "```bash\n"
            f"dvc plots diff {' '.join(row['name'] for row in ranked)}\n"
            "dvc exp show --only-changed\n"
            f"dvc exp apply {ranked[0]['name']}   # bring the best one into the workspace\n"
            "```",
        ]
    blocks.append(f"*Written {datetime.now().isoformat(timespec='seconds')} by `luckybag grid`.*")
    return "\n\n".join(blocks) + "\n"


def figure_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}_val_loss.png")  # reports/grid.md -> reports/grid_val_loss.png


def write_grid_report(
    grid: "Grid", grid_path: Path, baseline: str, failures: dict[str, str], out: Path, keep_fuller: bool = False
) -> Path:
    """``out`` and, next to it, the validation-loss figure; returns the path written. With ``keep_fuller``, a report
    that lists experiments not found here (a clone without them, a new commit) is kept: this goes to NAME-partial.md."""
    shown = dvc_json(["exp", "show"])
    ranked = ranked_rows(grid, experiment_rows(shown, baseline)[1])
    try:
        reported = set(REPORT_ROW.findall(out.read_text(encoding="utf-8"))) if keep_fuller else set()
    except (OSError, UnicodeDecodeError):
        reported = set()
    lost = sorted(reported - {row["name"] for row in ranked})
    if lost:
        kept, out = out, out.with_name(f"{out.stem}-partial{out.suffix}")
        print(
            f"{kept} is kept: it lists {len(lost)} experiment(s) not found for this commit ({', '.join(lost)}); "
            f"`dvc exp pull` them, or run the whole grid to replace it",
            flush=True,
        )
    curves = {row["name"]: val_loss_curve(str(row.get("rev"))) for row in ranked}
    curves = {name: curve for name, curve in curves.items() if curve[0]}  # only those with epochs to draw
    figure = figure_path(out)
    figure.unlink(missing_ok=True)
    if curves:
        from luckybag.pipeline.plots import val_loss_curves  # matplotlib only where there is a figure to draw

        val_loss_curves(curves, figure)
    write_text(out, render_report(grid, grid_path, baseline, shown, failures, figure if curves else None))
    return out
