"""How long CI and the fast tests take: `CI=true bash .ci/run` and `make test-fast` on a fresh clone of HEAD.

The clone starts without .venv (so .ci/run's set-up is timed too); pytest's own session time is read from its
summary line. Run it on a quiet machine: `python benchmarks/test_times.py` writes
benchmarks/results/test_times_native.json (and ci-durations-native.txt, pytest's slowest 25);
`python benchmarks/test_times.py NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL" OPENBLAS_CORETYPE=Haswell` runs both
with that environment (numpy and BLAS without their AVX-512 kernels: another CPU) and writes test_times.json and
ci-durations.txt.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import ROOT, provenance

RESULTS = ROOT / "benchmarks" / "results"
SESSION = re.compile(r" in ([\d.]+)s")


def timed(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict:
    start = time.monotonic()
    with open(log, "w") as fh:
        done = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    text = log.read_text(errors="replace")
    summary = [line for line in text.splitlines() if line.startswith("=") and " in " in line]
    sessions = [float(m) for line in summary for m in SESSION.findall(line)]
    return {
        "command": " ".join(cmd),
        "rc": done.returncode,
        "wall_s": round(time.monotonic() - start, 1),
        "pytest_s": sessions[-1] if sessions else None,
        "summary": summary[-1] if summary else None,
    }


def durations(log: Path) -> str:
    """pytest's slowest-25 table and its summary lines, from the CI log."""
    lines = log.read_text(errors="replace").splitlines()
    start = next((i for i, line in enumerate(lines) if "slowest 25 durations" in line), len(lines))
    return "\n".join(lines[start:]) + "\n"


def main() -> None:
    extra = dict(arg.split("=", 1) for arg in sys.argv[1:])  # KEY=VALUE settings for both runs
    suffix = "" if extra else "_native"
    results = {"provenance": provenance(), "environment": extra, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "luckybag"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")} | {"CI": "true"} | extra
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
        results["ci"] = timed(["bash", ".ci/run"], clone, env, Path(tmp) / "ci.log")
        (RESULTS / f"ci-durations{suffix.replace('_', '-')}.txt").write_text(durations(Path(tmp) / "ci.log"))
        print(json.dumps(results["ci"]), flush=True)
        results["test_fast"] = timed(["make", "test-fast"], clone, env, Path(tmp) / "fast.log")
        print(json.dumps(results["test_fast"]), flush=True)
    results["load_after"] = os.getloadavg()[0]
    (RESULTS / f"test_times{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(results["ci"]["rc"])


if __name__ == "__main__":
    main()
