"""Stage evaluate: validation and test metrics, per-class scores, confusion matrix."""

from pathlib import Path

import numpy as np

from luckybag import data
from luckybag.backend import use_backend
from luckybag.errors import main_guard
from luckybag.io import atomic_path, write_json
from luckybag.params import load_section

PREPARED_DIR = Path("data/prepared")
CHECKPOINT = Path("models/checkpoint.keras")
PREDICTIONS = Path("data/predictions.npz")
METRICS = Path("metrics/eval.json")
PER_CLASS = Path("metrics/per_class.json")  # an out, not a DVC metric: 80 numbers would drown `dvc exp show`
CONFUSION_DATA = Path("plots/confusion.json")
CONFUSION_PNG = Path("plots/confusion.png")


@main_guard
def main() -> None:
    params = load_section("evaluate")
    use_backend(load_section("train")["backend"])  # the backend the model was trained on
    import keras

    from luckybag import metrics, plots

    model = keras.models.load_model(CHECKPOINT)
    results, per_class, probs = {}, {}, {}
    for split in ("val", "test"):
        split_data = data.load_split(PREPARED_DIR / f"{split}.npz")
        probs[split] = np.asarray(model.predict(split_data.images, batch_size=params["batch_size"], verbose=0))
        results[split] = metrics.summary(split_data.labels, probs[split])
        per_class[split] = metrics.per_class(split_data.labels, probs[split])
    with atomic_path(PREDICTIONS) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, val=probs["val"], test=probs["test"])
    write_json(METRICS, results)
    write_json(PER_CLASS, per_class)
    write_json(CONFUSION_DATA, metrics.confusion_rows(split_data.labels, probs["test"]))
    plots.confusion_matrix(metrics.confusion(split_data.labels, probs["test"]), CONFUSION_PNG)
    for split in ("val", "test"):
        print(f"evaluate: {split} accuracy {results[split]['accuracy']:.4f}, loss {results[split]['loss']:.4f}")


if __name__ == "__main__":
    main()
