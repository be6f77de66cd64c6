"""Where the train stage's epoch goes: training steps, validation, checkpoint, DVCLive logging.

Runs the real `luckybag.pipeline.training.train` (default params from params.yaml, a fixed number of
epochs, no early stopping) on the prepared real data with timers on Keras' callback hooks, twice,
each in a fresh process: (a) validation at the training batch (Keras' default, as before) and
(b) validation at `training.validation_batch_size` (now). Compares the steps with the FLOP floor:
6 x in x out FLOP per image per Dense layer (forward and two backward matmuls) at the best
matmul rate JAX reaches on this machine.

Usage: python benchmarks/epoch_split.py [--epochs 8] [--data data/prepared] [--out FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("steps", "validation", "checkpoint", "logging", "other")


def timed_side(side: str, data: Path, epochs: int) -> dict:
    """One training run in this process; per-epoch seconds of each part."""
    os.environ["KERAS_BACKEND"] = "jax"
    import keras
    import yaml

    from dvclive import Live
    from luckybag.pipeline import training
    from luckybag.pipeline.data import load_split
    from luckybag.pipeline.params import TrainParams

    train = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    params = TrainParams.model_validate({**train, "epochs": epochs, "patience": 0})
    if side == "before":
        training.validation_batch_size = lambda n: params.batch_size
    spent: dict[str, list[tuple[float, float]]] = {"checkpoint": [], "logging": []}

    def timing(method, part):
        def wrapper(self, *args, **kwargs):
            start = now()
            method(self, *args, **kwargs)
            spent[part].append(since(start))

        return wrapper

    keras.callbacks.ModelCheckpoint.on_epoch_end = timing(keras.callbacks.ModelCheckpoint.on_epoch_end, "checkpoint")
    training.LiveLogger.on_epoch_end = timing(training.LiveLogger.on_epoch_end, "logging")

    class Marks(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.marks: list[dict[str, tuple[float, float]]] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.marks.append({"begin": now()})

        def on_test_begin(self, logs=None):
            self.marks[-1]["test_begin"] = now()

        def on_test_end(self, logs=None):
            self.marks[-1]["test_end"] = now()

        def on_epoch_end(self, epoch, logs=None):  # runs last: after the checkpoint and the logger
            self.marks[-1]["end"] = now()

    train_split, val_split = load_split(data / "train.npz"), load_split(data / "val.npz")
    marks = Marks()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with Live(str(Path(tmp) / "dvclive"), dvcyaml=None, save_dvc_exp=False, report=None) as live:
            result = training.train(
                params, train_split, val_split, Path(tmp) / "checkpoint.keras", live, 0, extra_callbacks=[marks]
            )
        total = time.perf_counter() - start
    split = {}
    for clock in (0, 1):  # wall, CPU
        epochs_split = []
        for i, m in enumerate(marks.marks):
            part = {
                "steps": m["test_begin"][clock] - m["begin"][clock],
                "validation": m["test_end"][clock] - m["test_begin"][clock],
                "checkpoint": spent["checkpoint"][i][clock],
                "logging": spent["logging"][i][clock],
            }
            part["other"] = m["end"][clock] - m["begin"][clock] - sum(part.values())
            epochs_split.append({k: round(v, 4) for k, v in part.items()})
        split[("wall", "cpu")[clock]] = epochs_split
    later = {clock: epochs[1:] for clock, epochs in split.items()}  # the first epoch also compiles
    return {
        "validation_batch_size": training.validation_batch_size(len(val_split)),
        "seconds": round(total, 2),
        "first_epoch": split["wall"][0],
        "later_epochs_mean": {k: round(statistics.mean(e[k] for e in later["wall"]), 4) for k in PARTS},
        "later_epochs_seconds_per_epoch": round(statistics.mean(sum(e.values()) for e in later["wall"]), 4),
        "later_epochs_cpu_mean": {k: round(statistics.mean(e[k] for e in later["cpu"]), 4) for k in PARTS},
        "later_epochs_cpu_seconds_per_epoch": round(statistics.mean(sum(e.values()) for e in later["cpu"]), 4),
        "best_val_accuracy": round(max(result.history["val_accuracy"]), 4),
        "flop_per_epoch": flop_per_epoch(result.model, len(train_split), len(val_split)),
        "matmul_gflops": matmul_gflops(),
    }


def now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = now()
    return wall - start[0], cpu - start[1]


def flop_per_epoch(model, n_train: int, n_val: int) -> dict[str, float]:
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    forward = sum(2 * layer.kernel.shape[0] * layer.kernel.shape[1] for layer in dense)
    return {"train": 3 * forward * n_train, "validation": forward * n_val}


def matmul_gflops() -> dict[str, float]:
    """The best rate of a large float32 matmul on JAX here, per wall second (all cores) and per
    CPU second (one core's worth, what the load on a shared machine changes least)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((2048, 784), jnp.float32)
    b = jnp.ones((784, 2048), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    f(a, b).block_until_ready()
    best = [float("inf"), float("inf")]
    for _ in range(10):
        start = now()
        f(a, b).block_until_ready()
        best = [min(b_, t) for b_, t in zip(best, since(start), strict=True)]
    flop = 2 * 2048 * 784 * 2048
    return {"per_wall_second": round(flop / best[0] / 1e9, 1), "per_cpu_second": round(flop / best[1] / 1e9, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--data", type=Path, default=ROOT / "data/prepared")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/epoch_split.json")
    parser.add_argument("--side", choices=("before", "after"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.data / "train.npz").is_file():
        sys.exit(f"error: --data {args.data}: no train.npz; run the preprocess stage first")
    if args.side:
        print(json.dumps(timed_side(args.side, args.data, args.epochs)))
        return

    load_start = os.getloadavg()
    sides = {}
    for side in ("before", "after"):
        print(f"{side} ...", flush=True)
        cmd = [sys.executable, __file__, "--side", side, "--epochs", str(args.epochs), "--data", str(args.data)]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            sys.exit(f"error: the {side} run failed:\n{done.stderr[-2000:]}")
        sides[side] = json.loads(done.stdout.strip().splitlines()[-1])
    after = sides["after"]
    floor = after["flop_per_epoch"]["train"] / (after["matmul_gflops"]["per_wall_second"] * 1e9)
    floor_cpu = after["flop_per_epoch"]["train"] / (after["matmul_gflops"]["per_cpu_second"] * 1e9)
    result = {
        "command": " ".join(["python", *sys.argv]),
        **provenance(),
        "cpus": os.cpu_count(),
        "load_average_1min": {"start": round(load_start[0], 2), "end": round(os.getloadavg()[0], 2)},
        "sides": sides,
        "train_steps_floor_seconds": round(floor, 3),
        "train_steps_floor_cpu_seconds": round(floor_cpu, 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| epochs 2+, wall s (CPU s) | " + " | ".join(PARTS) + " | total | best val acc |")
    print("|---" * (len(PARTS) + 3) + "|")
    for side, r in sides.items():
        wall, cpu = r["later_epochs_mean"], r["later_epochs_cpu_mean"]
        cells = " | ".join(f"{wall[p]:.3f} ({cpu[p]:.3f})" for p in PARTS)
        print(
            f"| {side} (val batch {r['validation_batch_size']}) | {cells} | "
            f"{r['later_epochs_seconds_per_epoch']:.3f} ({r['later_epochs_cpu_seconds_per_epoch']:.3f}) | "
            f"{r['best_val_accuracy']} |"
        )
    print(
        f"FLOP floor of the steps: {floor:.3f} s ({floor_cpu:.3f} CPU s) per epoch "
        f"({after['flop_per_epoch']['train'] / 1e9:.1f} GFLOP at {after['matmul_gflops']}); written to {args.out}"
    )


if __name__ == "__main__":
    main()
