"""Stage evaluate: metrics, per-class scores, confusion matrix and temperature-scaling calibration."""

from pathlib import Path

import numpy as np

from luckybag import calibration, data
from luckybag.backend import use_backend
from luckybag.errors import main_guard
from luckybag.io import save_npz, write_json
from luckybag.params import load_section

PREPARED_DIR = Path("data/prepared")
CHECKPOINT = Path("models/checkpoint.keras")
PREDICTIONS = Path("data/predictions.npz")
METRICS = Path("metrics/eval.json")
PER_CLASS = Path("metrics/per_class.json")  # an out, not a DVC metric: 80 numbers would drown `dvc exp show`
CONFUSION_DATA = Path("plots/confusion.json")
CONFUSION_PNG = Path("plots/confusion.png")
RELIABILITY_DIR = Path("plots/reliability")
RELIABILITY_PNG = Path("plots/reliability.png")


def split_metrics(labels: np.ndarray, probs: np.ndarray, calibrated: np.ndarray, n_bins: int) -> dict:
    from luckybag import metrics

    # `loss` is Keras' cross-entropy (probabilities clipped at 1e-7, as in training); `nll` uses
    # the same formula as the calibrated `nll`, so the two are comparable.
    return {
        **metrics.summary(labels, probs.astype(np.float32)),
        **calibration.scores(probs, labels, n_bins),
        "calibrated": calibration.scores(calibrated, labels, n_bins),
    }


@main_guard
def main() -> None:
    params = load_section("evaluate")
    use_backend(load_section("train")["backend"])  # the backend the model was trained on
    from luckybag import metrics, plots
    from luckybag.models import load_checkpoint

    model = load_checkpoint(CHECKPOINT)
    splits = {name: data.load_split(PREPARED_DIR / f"{name}.npz") for name in ("val", "test")}
    probs = {
        name: np.asarray(model.predict(split.images, batch_size=params["batch_size"], verbose=0), dtype=np.float64)
        for name, split in splits.items()
    }
    temperature = calibration.fit_temperature(probs["val"], splits["val"].labels)  # never on test
    calibrated = {name: calibration.scale(p, temperature) for name, p in probs.items()}
    n_bins = params["calibration_bins"]
    results = {
        name: split_metrics(split.labels, probs[name], calibrated[name], n_bins) for name, split in splits.items()
    }
    results["temperature"] = round(temperature, 6)

    test = splits["test"]
    save_npz(PREDICTIONS, temperature=np.array(temperature), test=probs["test"], test_calibrated=calibrated["test"])
    write_json(METRICS, results)
    write_json(PER_CLASS, {name: metrics.per_class(split.labels, probs[name]) for name, split in splits.items()})
    write_json(CONFUSION_DATA, metrics.confusion_rows(test.labels, probs["test"]))
    plots.confusion_matrix(metrics.confusion(test.labels, probs["test"]), CONFUSION_PNG)
    bins = {kind: calibration.reliability(p["test"], test.labels, n_bins) for kind, p in
            (("uncalibrated", probs), ("calibrated", calibrated))}
    for kind, rows in bins.items():
        write_json(RELIABILITY_DIR / f"{kind}.json", [row for row in rows if row["count"]])
    plots.reliability_diagram(bins["uncalibrated"], bins["calibrated"], temperature, RELIABILITY_PNG)
    for name in ("val", "test"):
        r = results[name]
        print(
            f"evaluate: {name} accuracy {r['accuracy']:.4f}, loss {r['loss']:.4f}, "
            f"ECE {r['ece']:.4f} -> {r['calibrated']['ece']:.4f} at T={temperature:.3f}"
        )


if __name__ == "__main__":
    main()
