"""Stage train: the dense network from params, with checkpoint, early stopping and DVCLive."""

import time

from luckybag.backend import use_backend
from luckybag.errors import main_guard
from luckybag.io import atomic_path, reproducible_keras_archive, write_json, write_text
from luckybag.pipeline import data
from luckybag.pipeline.params import load_section
from luckybag.pipeline.paths import CHECKPOINT, LIVE_DIR, SUMMARY, TRAIN_METRICS, prepared, timing


@main_guard
def main() -> None:
    params = load_section("train")
    use_backend(params.backend)  # before anything imports Keras
    from dvclive import Live
    from luckybag.pipeline import models, training

    train_split = data.load_split(prepared("train"))
    val_split = data.load_split(prepared("val"))

    start = time.perf_counter()
    with (
        atomic_path(CHECKPOINT) as checkpoint,
        Live(str(LIVE_DIR), dvcyaml=None, save_dvc_exp=False, report=None) as live,
    ):
        live.log_params(params.model_dump())
        result = training.train(params, train_split, val_split, checkpoint, live)
        reproducible_keras_archive(checkpoint)
    seconds = time.perf_counter() - start

    history, best = result.history, result.best_epoch - 1
    write_text(SUMMARY, models.summary_text(result.model))
    write_json(
        TRAIN_METRICS,
        {
            "params_count": result.model.count_params(),
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            # Keras' EarlyStopping.stopped_epoch is 0-based: the seed's "stopped_epoch 10" is 11 epochs run.
            "stopped_epoch": result.epochs_run - 1 if result.stopped_early else None,
            "best": {
                "train_loss": round(history["loss"][best], 6),
                "train_accuracy": round(history["accuracy"][best], 6),
                "val_loss": round(history["val_loss"][best], 6),
                "val_accuracy": round(history["val_accuracy"][best], 6),
            },
        },
    )
    write_json(
        timing("train"),
        {"backend": params.backend, "seconds": seconds, "seconds_per_epoch": seconds / result.epochs_run},
    )
    print(
        f"train: best epoch {result.best_epoch} of {result.epochs_run}, "
        f"val_accuracy {history['val_accuracy'][best]:.4f}, {seconds / result.epochs_run:.2f} s/epoch"
    )


if __name__ == "__main__":
    main()
