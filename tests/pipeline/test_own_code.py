"""An experiment imports the luckybag of DVC's temporary copy, not that of the checkout the venv was installed from."""

import re
import sys
from pathlib import Path

import pytest

from tests.conftest import make_project, run, tiny_params

pytestmark = pytest.mark.slow

# A plain user's shell: no PYTHONPATH (run() would otherwise put "." on it); PYTHONVERBOSE logs every import's file.
PLAIN_USER = {"PYTHONPATH": "", "PYTHONVERBOSE": "1"}
# A module of the package or a stage: luckybag/NAME.py, luckybag/SUBPACKAGE/NAME.py or stages/NAME.py. Not any file
# below a directory that happens to be called luckybag (a checkout's .venv/lib/...).
CODE_FILE = re.compile(r"(/[^\s'\"]*/(?:luckybag|stages)/(?:[a-z_]+/)?[a-z_]+\.py)c?\b")


def installed_luckybag(cwd: Path) -> Path | None:
    """The directory the venv's (editable) install imports luckybag from, for a plain user outside any checkout."""
    code = "import importlib.util as u; s = u.find_spec('luckybag'); print(s.origin if s else '')"
    origin = run([sys.executable, "-c", code], cwd, env={"PYTHONPATH": ""}).stdout.strip()
    return Path(origin).parent if origin else None


def test_an_experiment_from_a_second_clone_loads_its_temporary_copy(
    tmp_path: Path, mirror: tuple[Path, dict[str, str]]
) -> None:
    first = make_project(tmp_path / "first", tiny_params(*mirror))
    second = tmp_path / "second"
    run(["git", "clone", "-q", str(first), str(second)], tmp_path)

    done = run(["dvc", "exp", "run", "--temp", "-n", "own-code", "preprocess"], second, env=PLAIN_USER)
    loaded = {Path(path).resolve() for path in CODE_FILE.findall(done.stderr)}
    assert any(path.name == "params.py" and path.parent.name == "pipeline" for path in loaded), done.stderr[-3000:]

    temp_copies = (second / ".dvc/tmp/exps").resolve()
    print(sorted(map(str, loaded))[:8], len(loaded))
    others = [path for path in loaded if not path.is_relative_to(temp_copies)]
    assert not others, f"loaded outside the experiment's copy: {sorted(map(str, others))[:5]}"
    installed = installed_luckybag(tmp_path)
    if installed is not None:
        assert not installed.is_relative_to(temp_copies)  # the check above would catch a stage importing it
