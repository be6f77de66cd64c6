"""Stage export: the served (calibrated, raw-pixel) model as .keras, weights, SavedModel and ONNX.

Each format is reloaded in a fresh process by its own runtime and its test-set
probabilities are compared with the trained model's; any mismatch fails the stage.
"""

import time
import zipfile
from pathlib import Path

import numpy as np

from luckybag.backend import use_backend
from luckybag.contract import EXPORT_FILES, MODELS_DIR
from luckybag.errors import main_guard
from luckybag.io import write_json, write_text
from luckybag.pipeline import calibration, reload
from luckybag.pipeline.calibration import Calibration
from luckybag.pipeline.data import DataError, load_split, read_logged
from luckybag.pipeline.params import load_params
from luckybag.pipeline.paths import (
    CHECKPOINT,
    EVAL_METRICS,
    EXPORT_METRICS,
    MODEL_CARD,
    PREDICTIONS,
    TRAIN_METRICS,
    prepared,
    timing,
)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


@main_guard
def main() -> None:
    card_params = load_params()
    params = card_params.export
    try:
        with np.load(PREDICTIONS) as predictions:
            chosen = Calibration(str(predictions["method"]), predictions["scale"], predictions["bias"])
            reference = predictions["test_calibrated"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(
            f"{PREDICTIONS}: not the evaluate stage's predictions ({type(err).__name__}: {err}); re-run evaluate"
        ) from None
    test = load_split(prepared("test"))
    from luckybag.pipeline import exports  # Keras is imported inside its functions, after use_backend

    files = {kind: MODELS_DIR / name for kind, name in EXPORT_FILES.items()}
    # The reload processes start first and import their runtimes while this one exports.
    with reload.Reloads(reload.files_to_check(files, params.check), prepared("test")) as reloads:
        reload.block_unused("exporter")
        use_backend("tensorflow")  # SavedModel and ONNX export need it; the .keras file is backend-neutral
        import keras

        reloads.fork("tensorflow")  # before any model exists here: the child reloads from the files alone

        from luckybag.pipeline.models import load_checkpoint

        # Layers with random state (dropout's seed generator) are saved in the SavedModel: seed them.
        keras.utils.set_random_seed(card_params.train.seed)
        served = exports.build_served(load_checkpoint(CHECKPOINT), chosen)
        start = time.perf_counter()
        paths = exports.save_all(served, MODELS_DIR)
        export_seconds = time.perf_counter() - start
        reloaded = reloads.finish()
        reload_seconds = time.perf_counter() - start - export_seconds
    from luckybag.pipeline import metrics, model_card

    results, timings = {}, {"export_seconds": export_seconds, "reload_seconds": reload_seconds}
    for kind, (probs, seconds) in reloaded.items():
        results[kind] = {"runtime": reload.RUNTIMES[kind], **reload.compare(reference, probs, params.tolerance)}
        timings[kind] = {**seconds, "bytes": _size(paths[kind])}
        print(
            f"export: {paths[kind]} reloaded by {results[kind]['runtime']}: "
            f"max |diff| {results[kind]['max_abs_diff']}, same argmax {results[kind]['same_argmax']}"
        )
    write_json(EXPORT_METRICS, results)
    write_json(timing("export"), timings)
    card = model_card.render(
        card_params,
        read_logged(TRAIN_METRICS),
        read_logged(EVAL_METRICS),
        results,
        calibration.reliability(reference, test.labels, card_params.evaluate.calibration_bins),
        metrics.confusion(test.labels, reference),
    )
    write_text(MODEL_CARD, card)
    failed = [kind for kind, result in results.items() if not result["ok"]]
    if failed:
        raise exports.ExportError(
            f"{MODELS_DIR}: {', '.join(failed)} export(s) disagree with the trained model by more than "
            f"export.tolerance={params.tolerance}"
        )


if __name__ == "__main__":
    main()
