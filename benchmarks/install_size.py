"""Disk size of the serving install against the full one.

(a) a fresh `python3.11 -m venv` with requirements-serve.lock and the project (--no-deps), what
`luckybag predict`/`bag` need; (b) the project's .venv as `make setup` (and `make torch`, when
run) left it: the pipeline, test and, if present, torch extras. Sizes are the bytes of the files
under each venv; the largest packages of (b) are listed too.

Usage: python benchmarks/install_size.py [--venv .venv] [--out FILE]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from provenance import provenance

ROOT = Path(__file__).resolve().parents[1]


def size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def sh(cmd: list[str | Path]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(map(str, cmd))} failed:\n{done.stderr[-2000:]}")


def serve_venv(directory: Path) -> Path:
    source = directory / "source"
    shutil.copytree(ROOT / "luckybag", source / "luckybag", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")
    venv = directory / "venv"
    sh(["python3.11", "-m", "venv", venv])
    sh([venv / "bin/python", "-m", "pip", "install", "--quiet", "-r", ROOT / "requirements-serve.lock"])
    sh([venv / "bin/python", "-m", "pip", "install", "--quiet", "--no-deps", source])
    return venv


def largest_packages(venv: Path, n: int = 8) -> dict[str, float]:
    site = next(venv.glob("lib/python3*/site-packages"))
    sizes = {
        p.name: size(p) for p in site.iterdir() if p.is_dir() and not p.name.endswith((".dist-info", "__pycache__"))
    }
    return {name: round(b / 2**20, 1) for name, b in sorted(sizes.items(), key=lambda kv: -kv[1])[:n]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/install_size.json")
    args = parser.parse_args()
    if not (args.venv / "bin/python").exists():
        sys.exit(f"error: --venv {args.venv}: not a virtual environment (run make setup)")
    with tempfile.TemporaryDirectory(prefix="serve-venv-") as tmp:
        serve = serve_venv(Path(tmp))
        serve_mib = size(serve) / 2**20
        serve_packages = largest_packages(serve, 6)
    full_mib = size(args.venv) / 2**20
    result = {
        "command": " ".join(["python", *sys.argv]),
        **provenance(),
        "serve_venv_mib": round(serve_mib, 1),
        "serve_largest_packages_mib": serve_packages,
        "full_venv_mib": round(full_mib, 1),
        "full_has_torch": any(args.venv.glob("lib/python3*/site-packages/torch")),
        "full_largest_packages_mib": largest_packages(args.venv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"serve venv {serve_mib:.0f} MiB, full venv {full_mib:.0f} MiB ({full_mib / serve_mib:.0f}x); written to {args.out}"
    )


if __name__ == "__main__":
    main()
