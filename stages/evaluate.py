"""Stage evaluate: metrics, per-class scores, confusion matrix and calibration (temperature or vector scaling)."""

import numpy as np

from luckybag.backend import use_backend
from luckybag.errors import main_guard
from luckybag.io import save_npz, write_json
from luckybag.pipeline import calibration, data
from luckybag.pipeline.params import load_params
from luckybag.pipeline.paths import (
    CHECKPOINT,
    CONFUSION_DATA,
    EVAL_METRICS,
    PER_CLASS,
    PREDICTIONS,
    RELIABILITY_DIR,
    prepared,
)


def with_accuracy(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> dict[str, float]:
    """Scores of calibrated probabilities; vector scaling may change the top class, hence the accuracy."""
    accuracy = round(float(np.mean(probs.argmax(axis=1) == labels)), 6)
    return {"accuracy": accuracy, **calibration.scores(probs, labels, n_bins)}


def raw_metrics(labels: np.ndarray, probs: np.ndarray, n_bins: int) -> dict:
    from luckybag.pipeline import metrics

    # `loss` is Keras' cross-entropy (probabilities clipped at 1e-7, as in training); `nll` uses
    # the same formula as the calibrated `nll`, so the two are comparable.
    return {**metrics.summary(labels, probs.astype(np.float32)), **calibration.scores(probs, labels, n_bins)}


@main_guard
def main() -> None:
    everything = load_params()
    params = everything.evaluate
    use_backend(everything.train.backend)  # the backend the model was trained on
    from luckybag.pipeline import metrics
    from luckybag.pipeline.models import load_checkpoint

    model = load_checkpoint(CHECKPOINT)
    splits = {name: data.load_split(prepared(name)) for name in ("val", "test")}
    probs = {
        name: np.asarray(model.predict(split.images, batch_size=params.batch_size, verbose=0), dtype=np.float64)
        for name, split in splits.items()
    }
    val, test, n_bins = splits["val"], splits["test"], params.calibration_bins
    # Every calibration is fitted on the validation split only. Cross-fitting (each fold calibrated
    # by a fit on the other folds) gives out-of-sample validation figures, on which `auto` chooses.
    fitted = {method: calibration.fit(method, probs["val"], val.labels) for method in calibration.METHODS}
    cross = {method: calibration.cross_fitted(method, probs["val"], val.labels) for method in calibration.METHODS}
    method = calibration.choose(params.calibration, cross, val.labels)
    chosen = fitted[method]
    calibrated = {name: chosen.apply(p) for name, p in probs.items()}

    results = {
        "calibration": {
            "requested": params.calibration,
            "method": method,
            "folds": calibration.CROSS_FIT_FOLDS,
            **{
                name: {
                    "val_cross_fitted_nll": round(calibration.nll(cross[name], val.labels), 6),
                    "test_ece": round(calibration.ece(cal.apply(probs["test"]), test.labels, n_bins), 6),
                }
                for name, cal in fitted.items()
            },
        },
        "temperature": round(fitted["temperature"].temperature, 6),  # fitted even when not chosen
        "val": {
            **raw_metrics(val.labels, probs["val"], n_bins),
            "calibrated_cross_fitted": with_accuracy(cross[method], val.labels, n_bins),
            "calibrated_in_sample": with_accuracy(calibrated["val"], val.labels, n_bins),
        },
        "test": {
            **raw_metrics(test.labels, probs["test"], n_bins),
            "calibrated": with_accuracy(calibrated["test"], test.labels, n_bins),
        },
    }

    save_npz(
        PREDICTIONS,
        method=np.array(method),
        scale=chosen.scale,
        bias=chosen.bias,
        test=probs["test"],
        test_calibrated=calibrated["test"],
    )
    write_json(EVAL_METRICS, results)
    # an out, not a DVC metric: 80 numbers would drown `dvc exp show`
    write_json(PER_CLASS, {name: metrics.per_class(split.labels, probs[name]) for name, split in splits.items()})
    # The served model's top classes (vector scaling may change a few), as the model card describes them.
    write_json(CONFUSION_DATA, metrics.confusion_rows(test.labels, calibrated["test"]))
    for kind, p in (("uncalibrated", probs["test"]), ("calibrated", calibrated["test"])):
        rows = calibration.reliability(p, test.labels, n_bins)
        write_json(RELIABILITY_DIR / f"{kind}.json", [row for row in rows if row["count"]])
    write_json(RELIABILITY_DIR / "perfectly_calibrated.json", [{"confidence": c, "accuracy": c} for c in (0.0, 1.0)])
    for name in ("val", "test"):
        r = results[name]
        after = r["calibrated"] if name == "test" else r["calibrated_cross_fitted"]
        print(
            f"evaluate: {name} accuracy {r['accuracy']:.4f}, loss {r['loss']:.4f}, "
            f"ECE {r['ece']:.4f} -> {after['ece']:.4f} by {method} scaling"
            + (" (cross-fitted)" if name == "val" else "")
        )


if __name__ == "__main__":
    main()
