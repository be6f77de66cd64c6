"""PNG figures in the seed's style (matplotlib, no display needed), and the logs they are drawn from."""

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure  # not pyplot: no GUI backend, nothing global to close
from matplotlib.ticker import MaxNLocator

from luckybag.contract import CLASS_NAMES, NUM_CLASSES
from luckybag.io import atomic_path
from luckybag.pipeline.data import DataError


def read_history(live_dir: Path) -> dict[str, list[float]]:
    """Per-epoch loss and accuracy, train and validation, from DVCLive's TSV files (named as Keras' history)."""
    history = {}
    for split, prefix in (("train", ""), ("eval", "val_")):
        for metric in ("loss", "accuracy"):
            path = Path(live_dir) / "plots" / "metrics" / split / f"{metric}.tsv"
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
                if lines[0].split("\t") != ["step", metric]:
                    raise ValueError(f"header {lines[0]!r}; expected 'step<TAB>{metric}'")
                rows = [line.split("\t") for line in lines[1:]]
                if [int(step) for step, _ in rows] != list(range(len(rows))):
                    raise ValueError("steps are not 0, 1, 2, ...")
                history[prefix + metric] = [float(value) for _, value in rows]
            except FileNotFoundError:
                raise DataError(f"{path}: file not found (run the train stage first)") from None
            except (ValueError, IndexError) as err:
                raise DataError(f"{path}: not a DVCLive metric log ({err})") from None
    if len({len(values) for values in history.values()}) != 1:
        raise DataError(f"{live_dir}: the per-epoch logs have different lengths; re-run the train stage")
    return history


def confusion_from_rows(rows: list[dict[str, str]]) -> np.ndarray:
    """The confusion matrix (actual x predicted counts) from DVC's confusion rows of class names."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for row in rows:
        matrix[CLASS_NAMES.index(row["actual"]), CLASS_NAMES.index(row["predicted"])] += 1
    return matrix


def _save(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})  # the same bytes every run


def samples(images: np.ndarray, labels: np.ndarray, path: Path, count: int = 10) -> None:
    """The first ``count`` images in a row with their class names (``cmap='gray_r'``, as the seed)."""
    axes = Figure(figsize=(count * 1.2, 1.8), layout="tight").subplots(1, count)
    for ax, image, label in zip(axes, images[:count], labels[:count], strict=False):
        ax.imshow(image, cmap="gray_r")
        ax.set_title(CLASS_NAMES[int(label)], fontsize=7)
        ax.axis("off")
    _save(axes[0].figure, path)


def loss_curves(history: dict[str, list[float]], best_epoch: int, path: Path) -> None:
    """Train vs validation loss and accuracy per epoch, like the seed's figures, with the best epoch marked."""
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes = Figure(figsize=(10, 4), layout="tight").subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, history[metric], label="train")
        ax.plot(epochs, history[f"val_{metric}"], label="validation")
        ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}" if ax is axes[0] else None)
        ax.set(xlabel="epoch", ylabel=metric, title=metric.capitalize())
        ax.legend()
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    _save(axes[0].figure, path)


def confusion_matrix(matrix: np.ndarray, path: Path) -> None:
    ax = Figure(figsize=(8, 7), layout="tight").subplots()
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(NUM_CLASSES)
    ax.set_xticks(ticks, CLASS_NAMES, rotation=45, ha="right")
    ax.set_yticks(ticks, CLASS_NAMES)
    threshold = matrix.max() / 2
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color="white" if count > threshold else "black")
    ax.set(xlabel="predicted", ylabel="actual", title="Test confusion matrix")
    _save(ax.figure, path)


def reliability_diagram(before: list[dict], after: list[dict], method: str, path: Path) -> None:
    """Accuracy vs confidence per non-empty bin (as evaluate logs them), before and after calibration (``method``)."""
    axes = Figure(figsize=(10, 4.5), layout="tight").subplots(1, 2, sharey=True)
    for ax, bins, title in ((axes[0], before, "uncalibrated"), (axes[1], after, method)):
        bar = {"width": bins[0]["upper"] - bins[0]["lower"], "align": "edge"}
        lower = np.array([b["lower"] for b in bins])
        accuracy = np.array([b["accuracy"] for b in bins])
        confidence = np.array([b["confidence"] for b in bins])
        ax.bar(lower, accuracy, **bar, edgecolor="black", alpha=0.7, label="accuracy")
        gap = {"fill": False, "edgecolor": "red", "hatch": "//", "linewidth": 0.5, "label": "gap to mean confidence"}
        ax.bar(lower, confidence - accuracy, bottom=accuracy, **bar, **gap)
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfectly calibrated")
        ax.set(xlabel="confidence", title=f"Test set, {title}", xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left")
    axes[0].set_ylabel("accuracy")
    _save(axes[0].figure, path)


def val_loss_curves(curves: dict[str, tuple[list[int], list[float]]], path: Path) -> None:
    """The grid experiments' validation loss per epoch (``curves``: by name, best first), as the grid report shows."""
    ax = Figure(figsize=(9, 5), layout="tight").subplots()
    for index, (name, (epochs, losses)) in enumerate(curves.items()):
        style = ("-", "--", ":")[index // 10 % 3]
        ax.plot(epochs, losses, style, marker="o", markersize=3, color=colormaps["tab10"](index % 10), label=name)
    ax.set(xlabel="epoch", ylabel="validation loss", title="Validation loss per epoch (legend: best first)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(ax.figure, path)
