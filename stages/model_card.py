"""Stage model_card: models/MODEL_CARD.md from the params, the metrics and the served model's test predictions.

A stage of its own, so that a change of the card's wording (luckybag/pipeline/model_card.py) re-runs only it.
"""

from luckybag.errors import main_guard
from luckybag.io import write_text
from luckybag.pipeline import calibration, data, metrics, model_card
from luckybag.pipeline.params import load_params
from luckybag.pipeline.paths import EVAL_METRICS, EXPORT_METRICS, MODEL_CARD, PREDICTIONS, TRAIN_METRICS, prepared


@main_guard
def main() -> None:
    params = load_params()
    _, served = calibration.load_chosen(PREDICTIONS)  # the served model's test-set probabilities
    labels = data.load_split(prepared("test")).labels
    exported = data.read_logged(EXPORT_METRICS)  # its keys sorted: the card lists them as export.check does
    exported = {kind: exported[kind] for kind in params.export.check if kind in exported}
    card = model_card.render(
        params,
        data.read_logged(TRAIN_METRICS),
        data.read_logged(EVAL_METRICS),
        exported,
        calibration.reliability(served, labels, params.evaluate.calibration_bins),
        metrics.confusion(labels, served),
    )
    write_text(MODEL_CARD, card)
    print(f"model_card: {MODEL_CARD}")


if __name__ == "__main__":
    main()
