"""Stage plots: every PNG figure, drawn from what the other stages logged; it trains and evaluates nothing.

A change of plot style (luckybag/pipeline/plots.py) re-runs this stage only.
"""

from pathlib import Path

from luckybag.errors import main_guard
from luckybag.io import read_json
from luckybag.pipeline import data, plots
from luckybag.pipeline.params import load_params

RAW_DIR = Path("data/raw")
LIVE_DIR = Path("dvclive")
TRAIN_METRICS = Path("metrics/train.json")
EVAL_METRICS = Path("metrics/eval.json")
CONFUSION_DATA = Path("plots/confusion.json")
RELIABILITY_DIR = Path("plots/reliability")
SAMPLES_PNG = Path("plots/samples.png")
LOSS_PNG = Path("plots/loss.png")
CONFUSION_PNG = Path("plots/confusion.png")
RELIABILITY_PNG = Path("plots/reliability.png")


def logged(path: Path) -> object:
    """A JSON file another stage wrote; a one-line error if it is missing or not JSON."""
    try:
        return read_json(path)
    except FileNotFoundError:
        raise data.DataError(f"{path}: file not found (run the stage that writes it first)") from None
    except ValueError as err:
        raise data.DataError(f"{path}: not valid JSON ({err})") from None


@main_guard
def main() -> None:
    load_params()  # this stage reads no params, but checks them like every stage
    images, labels = data.load_raw(RAW_DIR, "train")
    history = plots.read_history(LIVE_DIR)
    train = logged(TRAIN_METRICS)
    evaluation = logged(EVAL_METRICS)
    method = evaluation["calibration"]["method"]
    after = f"temperature T = {evaluation['temperature']:.3f}" if method == "temperature" else "vector scaling"

    plots.samples(images, labels, SAMPLES_PNG)
    plots.loss_curves(history, train["best_epoch"], LOSS_PNG)
    plots.confusion_matrix(plots.confusion_from_rows(logged(CONFUSION_DATA)), CONFUSION_PNG)
    plots.reliability_diagram(
        logged(RELIABILITY_DIR / "uncalibrated.json"),
        logged(RELIABILITY_DIR / "calibrated.json"),
        after,
        RELIABILITY_PNG,
    )
    for path in (SAMPLES_PNG, LOSS_PNG, CONFUSION_PNG, RELIABILITY_PNG):
        print(f"plots: {path}")


if __name__ == "__main__":
    main()
