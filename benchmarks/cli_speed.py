"""`luckybag predict` as whole processes: onnxruntime (the default) against --runtime keras, in one run.

For one 28x28 PNG and for 1,000 test images in one .npy, each command runs ``--runs`` times
after a warm-up (wall time: min and median; peak memory: max RSS of the process, from
/usr/bin/time). A bare onnxruntime script on the same file and input (``FLOOR_SCRIPT``: read, one
session, one run, print) is timed alongside as the floor. The package's bytecode is compiled
first, as a non-editable ``pip install`` does (this machine sets PYTHONDONTWRITEBYTECODE).
Writes benchmarks/results/cli_speed.json.

    .venv/bin/python benchmarks/cli_speed.py     # after `dvc repro` (models/, data/prepared/test.npz)
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from provenance import provenance

from luckybag.io import write_json

TARGETS = {"png": 0.3, "npy": 0.5, "peak_mib": 100}  # issue 12: seconds wall, MiB peak memory
OUT = Path("benchmarks/results/cli_speed.json")
FLOOR_SCRIPT = """
import sys
import numpy as np
import onnxruntime as ort
path, model = sys.argv[1:]
if path.endswith(".npy"):
    images = np.load(path)
else:
    from PIL import Image
    images = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)[None]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
print(session.run(None, {session.get_inputs()[0].name: images})[0].argmax(axis=1))
"""


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one run of ``cmd``; output discarded, a failure stops the run."""
    with tempfile.NamedTemporaryFile(suffix=".time") as report:
        start = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-o", report.name, "-f", "%M %U %S", *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"error: {' '.join(cmd)} failed: {done.stderr.decode()[-500:]}")
        peak_kib, user, system = Path(report.name).read_text().split()[-3:]
    return wall, float(user) + float(system), int(peak_kib) / 1024


def summary(results: list[tuple[float, float, float]]) -> dict[str, float]:
    walls, cpus = [wall for wall, _, _ in results], [cpu for _, cpu, _ in results]
    return {
        "wall_min_s": round(min(walls), 3),
        "wall_median_s": round(statistics.median(walls), 3),
        "cpu_min_s": round(min(cpus), 3),
        "cpu_median_s": round(statistics.median(cpus), 3),
        "peak_mib": round(max(peak for _, _, peak in results), 1),
        "runs": len(results),
    }


def measure(cmds: dict[str, list[str]], runs: int) -> dict[str, dict[str, float]]:
    """Each command ``runs`` times after a warm-up, taking turns, so a slow spell of the machine hits all alike."""
    for cmd in cmds.values():
        timed(cmd)  # warm-up: file cache
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            results[name].append(timed(cmd))
    return {name: summary(times) for name, times in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models"), help="directory with model.onnx, model.keras")
    parser.add_argument("--test", type=Path, default=Path("data/prepared/test.npz"))
    parser.add_argument("--runs", type=int, default=5, help="runs of the Keras path")
    parser.add_argument("--fast-runs", type=int, default=21, help="runs of the onnxruntime path and the bare script")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    luckybag = str(Path(sys.executable).with_name("luckybag"))
    package = Path(__file__).resolve().parents[1] / "luckybag"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    with np.load(args.test) as data:
        images = data["images"][:1000]
    results: dict[str, dict[str, dict[str, float]]] = {}
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine inflates wall time
    with tempfile.TemporaryDirectory(prefix="luckybag-cli-speed-") as tmp:
        png, npy = Path(tmp) / "item0.png", Path(tmp) / "batch1000.npy"
        Image.fromarray(images[0]).save(png)
        np.save(npy, images)
        for kind, path in (("png", png), ("npy", npy)):
            onnx = [luckybag, "predict", str(path), "--model", str(args.models / "model.onnx")]
            bare = [sys.executable, "-c", FLOOR_SCRIPT, str(path), str(args.models / "model.onnx")]
            keras = [luckybag, "predict", str(path), "--runtime", "keras", "--model", str(args.models / "model.keras")]
            results[kind] = measure({"onnx": onnx, "bare_onnxruntime": bare}, args.fast_runs)
            results[kind] |= measure({"keras": keras}, args.runs)
            for name, result in results[kind].items():
                print(f"{kind} {name}: {result}", flush=True)
    write_json(
        args.out,
        {
            "command": " ".join(["python", "benchmarks/cli_speed.py", *sys.argv[1:]]),
            **provenance(args.models / "model.onnx", args.models / "model.keras"),
            "inputs": {"png": "one 28x28 test image as PNG", "npy": "1,000 test images in one .npy"},
            "floor_script": FLOOR_SCRIPT,
            "cpus": os.cpu_count(),
            "load_average_before_after": [load_before, round(os.getloadavg()[0], 2)],
            "targets": TARGETS,
            "results": results,
        },
    )
    print(
        f"\n{'input':6s} {'wall median onnx / keras':>26s} {'ratio':>6s} {'bare script':>12s} "
        f"{'CPU median onnx / keras':>24s} {'peak MiB':>10s}"
    )
    for kind, by_runtime in results.items():
        onnx, keras, bare = by_runtime["onnx"], by_runtime["keras"], by_runtime["bare_onnxruntime"]
        ratio = keras["wall_median_s"] / onnx["wall_median_s"]
        print(
            f"{kind:6s} {onnx['wall_median_s']:>11.3f} s / {keras['wall_median_s']:>7.3f} s {ratio:>5.1f}x "
            f"{bare['wall_median_s']:>10.3f} s "
            f"{onnx['cpu_median_s']:>10.3f} s / {keras['cpu_median_s']:>7.3f} s {onnx['peak_mib']:>5.0f} / {keras['peak_mib']:.0f}"
        )
    print(f"{args.out}: written")


if __name__ == "__main__":
    main()
