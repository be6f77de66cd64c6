"""Stage export: the served (calibrated, raw-pixel) model in every format of luckybag.pipeline.exports.FORMATS.

Each format in export.check is reloaded in a fresh process by its own runtime and its test-set
probabilities are compared with the trained model's; any mismatch fails the stage.
"""

import time
from pathlib import Path

from luckybag.backend import use_backend
from luckybag.contract import MODELS_DIR
from luckybag.errors import main_guard
from luckybag.io import write_json
from luckybag.pipeline import calibration, data, exports, reload
from luckybag.pipeline.params import load_params
from luckybag.pipeline.paths import CHECKPOINT, EXPORT_METRICS, PREDICTIONS, prepared, timing


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


@main_guard
def main() -> None:
    everything = load_params()
    params = everything.export
    chosen, reference = calibration.load_chosen(PREDICTIONS)
    data.load_split(prepared("test"))  # a bad file: one line here, not a reload process' failure
    files = exports.files(MODELS_DIR)
    # The reload processes start first and import their runtimes while this one exports.
    with reload.Reloads({kind: files[kind] for kind in params.check}, prepared("test")) as reloads:
        reload.skip_unused("exporter")
        use_backend("tensorflow")  # SavedModel and ONNX export need it; the .keras file is backend-neutral
        import keras

        from luckybag.pipeline.models import load_checkpoint

        # Layers with random state (dropout's seed generator) are saved in the SavedModel: seed them.
        keras.utils.set_random_seed(everything.train.seed)
        served = exports.build_served(load_checkpoint(CHECKPOINT), chosen)
        start = time.perf_counter()
        exports.save_all(served, MODELS_DIR)
        export_seconds = time.perf_counter() - start
        reloaded = reloads.finish()
        reload_seconds = time.perf_counter() - start - export_seconds

    results, timings = {}, {"export_seconds": export_seconds, "reload_seconds": reload_seconds}
    for kind, (probs, seconds) in reloaded.items():
        results[kind] = {
            "runtime": exports.FORMATS[kind].described,
            **reload.compare(reference, probs, params.tolerance),
        }
        timings[kind] = {**seconds, "bytes": _size(files[kind][0])}
        print(
            f"export: {files[kind][0]} reloaded by {results[kind]['runtime']}: "
            f"max |diff| {results[kind]['max_abs_diff']}, same argmax {results[kind]['same_argmax']}"
        )
    write_json(EXPORT_METRICS, results)
    write_json(timing("export"), timings)
    failed = [kind for kind, result in results.items() if not result["ok"]]
    if failed:
        raise exports.ExportError(
            f"{MODELS_DIR}: {', '.join(failed)} export(s) disagree with the trained model by more than "
            f"export.tolerance={params.tolerance}"
        )


if __name__ == "__main__":
    main()
