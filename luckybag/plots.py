"""PNG figures in the seed's style (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from luckybag import CLASS_NAMES  # noqa: E402
from luckybag.data import DataError  # noqa: E402
from luckybag.io import atomic_path  # noqa: E402

# --- inputs: what the pipeline logged, read back ------------------------------------------


def read_history(live_dir: Path) -> dict[str, list[float]]:
    """Per-epoch loss and accuracy, train and validation, from DVCLive's TSV files (as Keras' history names them)."""
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
    index = {name: i for i, name in enumerate(CLASS_NAMES)}
    matrix = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=np.int64)
    for row in rows:
        matrix[index[row["actual"]], index[row["predicted"]]] += 1
    return matrix


# --- figures ----------------------------------------------------------------------------------


def _save(fig: plt.Figure, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            # Fixed metadata keeps the PNG bytes identical from run to run.
            fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    finally:
        plt.close(fig)


def samples(images: np.ndarray, labels: np.ndarray, path: Path, count: int = 10) -> None:
    """The first ``count`` images in a row with their class names (``cmap='gray_r'``, as the seed)."""
    fig, axes = plt.subplots(1, count, figsize=(count * 1.2, 1.8))
    for ax, image, label in zip(axes, images[:count], labels[:count], strict=False):
        ax.imshow(image, cmap="gray_r")
        ax.set_title(CLASS_NAMES[int(label)], fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    _save(fig, path)


def loss_curves(history: dict[str, list[float]], best_epoch: int, path: Path) -> None:
    """Train vs validation loss per epoch, like the seed's figures, with the best epoch marked."""
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["loss"], label="train")
    ax_loss.plot(epochs, history["val_loss"], label="validation")
    ax_loss.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_acc.plot(epochs, history["accuracy"], label="train")
    ax_acc.plot(epochs, history["val_accuracy"], label="validation")
    ax_acc.axvline(best_epoch, color="grey", linestyle=":")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    _save(fig, path)


def confusion_matrix(matrix: np.ndarray, path: Path, title: str = "Test confusion matrix") -> None:
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(CLASS_NAMES))
    ax.set_xticks(ticks, CLASS_NAMES, rotation=45, ha="right")
    ax.set_yticks(ticks, CLASS_NAMES)
    threshold = matrix.max() / 2
    for i, j in np.ndindex(matrix.shape):
        ax.text(
            j,
            i,
            str(matrix[i, j]),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if matrix[i, j] > threshold else "black",
        )
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    fig.tight_layout()
    _save(fig, path)


def reliability_diagram(before: list[dict], after: list[dict], method: str, path: Path) -> None:
    """Accuracy vs confidence per bin, before and after calibration (``method`` names it); the diagonal is perfect."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    for ax, bins, title in ((axes[0], before, "uncalibrated"), (axes[1], after, method)):
        width = bins[0]["upper"] - bins[0]["lower"]
        filled = [b for b in bins if b["count"]]
        lower = np.array([b["lower"] for b in filled])
        accuracy = np.array([b["accuracy"] for b in filled])
        confidence = np.array([b["confidence"] for b in filled])
        ax.bar(lower, accuracy, width=width, align="edge", edgecolor="black", alpha=0.7, label="accuracy")
        ax.bar(
            lower,
            confidence - accuracy,
            bottom=accuracy,
            width=width,
            align="edge",
            fill=False,
            edgecolor="red",
            hatch="//",
            linewidth=0.5,
            label="gap to mean confidence",
        )
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfectly calibrated")
        ax.set(xlabel="confidence", title=f"Test set, {title}", xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left")
    axes[0].set_ylabel("accuracy")
    fig.tight_layout()
    _save(fig, path)
