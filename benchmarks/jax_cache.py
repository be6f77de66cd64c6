"""JAX's persistent compile cache: the train and evaluate stages with it off and on, in one run.

Both run this project's stage scripts on its real prepared data with the default params (JAX),
alternating off/on in every round: "off" is ``JAX_COMPILATION_CACHE_DIR=""`` (every process
compiles, as before the cache), "on" a cache directory filled by one untimed run first (what every
run after a project's first one finds). Wall and CPU seconds (the stage process) per run, medians,
ratios; and whether both modes wrote the same bytes (checkpoint, metrics, predictions).

Usage: .venv/bin/python benchmarks/jax_cache.py [--rounds 3] [--out FILE]
"""

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks/results/jax_cache.json"
OUTPUTS = {
    "train": ["models/checkpoint.keras", "metrics/train.json"],
    "evaluate": ["data/predictions.npz", "metrics/eval.json", "metrics/per_class.json"],
}


def digest(paths: list[str]) -> str:
    return hashlib.sha256(b"".join((ROOT / path).read_bytes() for path in paths)).hexdigest()[:16]


def timed(stage: str, cache: str) -> dict[str, float | str]:
    env = {
        **os.environ,
        "JAX_COMPILATION_CACHE_DIR": cache,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: python -m stages.{stage} failed:\n{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "outputs_sha256": digest(OUTPUTS[stage])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from luckybag.io import write_json

    results: dict[str, dict] = {}
    load = [round(os.getloadavg()[0], 2)]
    with tempfile.TemporaryDirectory(prefix="luckybag-jax-cache-") as cache:
        for stage in OUTPUTS:
            timed(stage, cache)  # fills the cache
            runs: dict[str, list] = {"off": [], "on": []}
            for _ in range(args.rounds):
                for mode, directory in (("off", ""), ("on", cache)):
                    runs[mode].append(timed(stage, directory))
                    print(stage, mode, runs[mode][-1], flush=True)
            median = {
                mode: {key: statistics.median(r[key] for r in rs) for key in ("wall_seconds", "cpu_seconds")}
                for mode, rs in runs.items()
            }
            results[stage] = {
                "runs": runs,
                "median": median,
                "speedup_wall": round(median["off"]["wall_seconds"] / median["on"]["wall_seconds"], 2),
                "speedup_cpu": round(median["off"]["cpu_seconds"] / median["on"]["cpu_seconds"], 2),
                "same_outputs": len({r["outputs_sha256"] for rs in runs.values() for r in rs}) == 1,
            }
    load.append(round(os.getloadavg()[0], 2))
    write_json(
        args.out,
        {
            "command": " ".join(["python", "benchmarks/jax_cache.py", *sys.argv[1:]]),
            **provenance(),
            "cpus": os.cpu_count(),
            "load_average_start_end": load,
            "stages": results,
        },
    )
    for stage, r in results.items():
        m = r["median"]
        print(
            f"{stage}: off {m['off']['wall_seconds']} s wall / {m['off']['cpu_seconds']} s CPU, "
            f"on {m['on']['wall_seconds']} / {m['on']['cpu_seconds']}: {r['speedup_wall']}x wall, "
            f"{r['speedup_cpu']}x CPU, same outputs: {r['same_outputs']}"
        )
    print(f"{args.out}: written")


if __name__ == "__main__":
    main()
