"""What a benchmark measured, for its results file: the commit (and whether the tree differed from it) and models.

Every script in benchmarks/ that writes benchmarks/results/NAME.json puts ``provenance(...)`` in it, so a
figure quoted from the file can be traced to the code and model behind it (tests/test_figures.py checks the
quoted figures against the files). Scripts import it as a sibling (``python benchmarks/NAME.py`` puts
benchmarks/ first on sys.path).
"""

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> str | None:
    """The output of a git command in the project, or None where there is no git (a copy without .git)."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(*models: Path) -> dict:
    """``commit`` (HEAD), ``dirty`` (tracked files differ from it), ``date``; ``model_md5`` per model file given."""
    status = git("status", "--porcelain", "--untracked-files=no")
    record: dict = {
        "commit": git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if models:
        record["model_md5"] = {str(path): md5(Path(path)) for path in models}
    return record
