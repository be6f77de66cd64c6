"""Fixtures of the search tests: a real PostgreSQL server on 127.0.0.1, and a project shared through remotes."""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import reproduced_project, run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres_user(directory: Path) -> list[str]:
    """The server refuses to run as root: as root, run it as `nobody`, who owns ``directory``."""
    if os.geteuid() != 0:
        return []
    shutil.chown(directory, "nobody")
    return ["runuser", "-u", "nobody", "--"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL server (Debian's package: `make postgres`) on a free port; its database URL."""
    initdb = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not initdb:
        message = "no PostgreSQL server (/usr/lib/postgresql/*/bin/initdb); `make postgres` installs Debian's"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    bindir = initdb[-1].parent
    base = Path(tempfile.mkdtemp(prefix="luckybag-pg-"))  # outside pytest's root-only directories
    base.chmod(0o755)
    user = as_postgres_user(base)
    data, port = base / "data", free_port()

    def pg(*args: str) -> None:
        subprocess.run([*user, *args], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "luckybag", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
    try:
        pg(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "luckybag", "search")
        yield f"postgresql+psycopg2://luckybag@127.0.0.1:{port}/search"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A reproduced tiny project whose pipeline outputs are in a directory DVC remote, pushed to a bare git remote."""
    base = tmp_path_factory.mktemp("shared")
    project = reproduced_project(base)
    run(["dvc", "remote", "add", "-d", "shared", str(base / "storage")], project)
    run(["git", "commit", "-qam", "a DVC remote"], project)
    bare = base / "origin.git"
    run(["git", "init", "-q", "--bare", str(bare)], base)
    run(["git", "remote", "add", "origin", str(bare)], project)
    run(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], project)
    run(["dvc", "push", "-q"], project)
    return project, bare


def clone(bare: Path, directory: Path) -> Path:
    """Another machine: a clone at the same commit with the project's outputs pulled."""
    run(["git", "clone", "-q", "-b", "main", str(bare), str(directory)], bare.parent)
    run(["dvc", "pull", "-q"], directory)
    return directory
