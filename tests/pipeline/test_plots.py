"""The plots stage's inputs: what the other stages logged, read back."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from luckybag.pipeline import plots
from luckybag.pipeline.data import DataError
from tests.conftest import assert_picture


def write_log(live_dir: Path, split: str, metric: str, values: list[float]) -> None:
    path = live_dir / "plots" / "metrics" / split / f"{metric}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"step\t{metric}\n" + "".join(f"{i}\t{v}\n" for i, v in enumerate(values)))


def test_history_from_dvclive_logs_draws_the_loss_figure(tmp_path: Path) -> None:
    logged = {
        ("train", "loss"): [0.9, 0.5, 0.4],
        ("train", "accuracy"): [0.6, 0.8, 0.85],
        ("eval", "loss"): [0.8, 0.6, float("nan")],
        ("eval", "accuracy"): [0.7, 0.75, 0.1],
    }
    for (split, metric), values in logged.items():
        write_log(tmp_path / "dvclive", split, metric, values)
    history = plots.read_history(tmp_path / "dvclive")
    assert history["loss"] == [0.9, 0.5, 0.4] and history["val_accuracy"] == [0.7, 0.75, 0.1]
    assert np.isnan(history["val_loss"][2])
    plots.loss_curves(history, 2, tmp_path / "loss.png")
    width, height = assert_picture(tmp_path / "loss.png")
    assert width > height  # the loss and the accuracy panels side by side
    with Image.open(tmp_path / "loss.png") as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):  # matplotlib's first two: the train and validation curves
        assert (np.abs(pixels - colour).sum(axis=2) < 30).sum() > 500, (
            f"no curve drawn in {colour}"
        )  # legend alone: ~120


def test_missing_or_uneven_logs_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train/loss\.tsv: file not found \(run the train stage first\)"):
        plots.read_history(tmp_path / "dvclive")
    for split in ("train", "eval"):
        for metric in ("loss", "accuracy"):
            write_log(tmp_path / "dvclive", split, metric, [0.5, 0.4])
    write_log(tmp_path / "dvclive", "eval", "accuracy", [0.5])
    with pytest.raises(DataError, match="the per-epoch logs have different lengths"):
        plots.read_history(tmp_path / "dvclive")
    (tmp_path / "dvclive/plots/metrics/eval/accuracy.tsv").write_text("time\taccuracy\n")
    with pytest.raises(DataError, match=r"accuracy\.tsv: not a DVCLive metric log"):
        plots.read_history(tmp_path / "dvclive")


def test_confusion_from_rows_counts_actual_by_predicted() -> None:
    rows = [
        {"actual": "Shirt", "predicted": "T-shirt/top"},
        {"actual": "Shirt", "predicted": "T-shirt/top"},
        {"actual": "Bag", "predicted": "Bag"},
    ]
    matrix = plots.confusion_from_rows(rows)
    assert matrix.sum() == 3 and matrix[6, 0] == 2 and matrix[8, 8] == 1 and matrix[0, 6] == 0
