"""Stage export: model.keras, weights, labels; each reloaded in a fresh process and checked."""

from pathlib import Path

import numpy as np

from luckybag.backend import use_backend
from luckybag.errors import main_guard
from luckybag.io import write_json
from luckybag.params import load_section

PREPARED_DIR = Path("data/prepared")
CHECKPOINT = Path("models/checkpoint.keras")
PREDICTIONS = Path("data/predictions.npz")
EXPORT_DIR = Path("models")
METRICS = Path("metrics/export.json")


@main_guard
def main() -> None:
    params = load_section("export")
    backend = load_section("train")["backend"]
    use_backend(backend)
    import keras

    from luckybag import exports

    exports.save_all(keras.models.load_model(CHECKPOINT), EXPORT_DIR)
    with np.load(PREDICTIONS) as predictions:
        reference = predictions["test"]
    results = {}
    reloaded = exports.reload_in_fresh_process(["keras", "weights"], EXPORT_DIR, PREPARED_DIR / "test.npz", backend)
    for kind, (probs, _) in reloaded.items():
        results[kind] = exports.compare(reference, probs, params["tolerance"])
        print(f"export: {kind} reloaded, max |diff| {results[kind]['max_abs_diff']:.2e}, ok={results[kind]['ok']}")
    write_json(METRICS, results)
    failed = [kind for kind, result in results.items() if not result["ok"]]
    if failed:
        raise exports.ExportError(f"{EXPORT_DIR}: reloaded {', '.join(failed)} export(s) disagree with the trained model")


if __name__ == "__main__":
    main()
