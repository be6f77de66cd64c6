"""Stage plots: every PNG figure, drawn from what the other stages logged; it trains and evaluates nothing.

A change of plot style (luckybag/pipeline/plots.py) re-runs this stage only.
"""

from luckybag.errors import main_guard
from luckybag.pipeline import data, plots
from luckybag.pipeline.params import load_params
from luckybag.pipeline.paths import (
    CONFUSION_DATA,
    EVAL_METRICS,
    LIVE_DIR,
    PNGS,
    RAW_DIR,
    RELIABILITY_DIR,
    TRAIN_METRICS,
)


@main_guard
def main() -> None:
    load_params()  # this stage reads no params, but checks them like every stage
    images, labels = data.load_raw(RAW_DIR, "train")
    history = plots.read_history(LIVE_DIR)
    train = data.read_logged(TRAIN_METRICS)
    evaluation = data.read_logged(EVAL_METRICS)
    method = evaluation["calibration"]["method"]
    after = f"temperature T = {evaluation['temperature']:.3f}" if method == "temperature" else "vector scaling"

    plots.samples(images, labels, PNGS["samples"])
    plots.loss_curves(history, train["best_epoch"], PNGS["loss"])
    plots.confusion_matrix(plots.confusion_from_rows(data.read_logged(CONFUSION_DATA)), PNGS["confusion"])
    plots.reliability_diagram(
        data.read_logged(RELIABILITY_DIR / "uncalibrated.json"),
        data.read_logged(RELIABILITY_DIR / "calibrated.json"),
        after,
        PNGS["reliability"],
    )
    for path in PNGS.values():
        print(f"plots: {path}")


if __name__ == "__main__":
    main()
