"""``pip install`` of the built wheel, not only ``-e``: a fresh virtual environment outside the
repository gets the static files and the migrations, and ``tether serve`` works from there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on (http://\S+?)/? ")


def run(*argv: str | Path, cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    source = tmp_path_factory.mktemp("source") / "tether"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", "test-artifacts", "tether-data", "build", "dist",
        "*.egg-info", "__pycache__", ".*_cache",
    ))
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, source, cwd=out)
    [built] = out.glob("tether-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel and its runtime dependencies only."""
    home = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", home / "venv", cwd=home)
    run(home / "venv/bin/pip", "install", "--quiet", wheel, cwd=home)
    yield home / "venv"


def test_the_wheel_carries_static_files_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "tether/static/index.html",
        "tether/static/js/app/main.js",
        "tether/static/vendor/socket.io.esm.min.js",
        "tether/db/migrations/env.py",
        "tether/db/migrations/versions/0001_initial.py",
    ):
        assert expected in names, f"{expected} is not in the wheel"
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]


def test_the_runtime_install_has_no_test_tools(venv: Path) -> None:
    listed = run(venv / "bin/pip", "list", "--format=freeze", cwd=venv.parent).lower()
    for tool in ("pytest", "playwright", "mypy", "ruff"):
        assert f"\n{tool}==" not in f"\n{listed}", f"{tool} came with the runtime install"


def test_the_example_app_runs_from_the_installed_wheel(venv: Path) -> None:
    """examples/fastapi_app as its README says: pip install fastapi beside the wheel, then
    uvicorn app:app, from a copy of the example outside the repository."""
    from tests.embed.example import EXAMPLE, run_example

    run(venv / "bin/pip", "install", "--quiet", "fastapi", cwd=venv.parent)
    where = venv.parent / "example"
    shutil.copytree(EXAMPLE, where)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TETHER_", "PYTHONPATH"))}
    with run_example(venv.parent, python=venv / "bin/python", env=env, where=where) as app:
        cookie = app.cookie("alice")
        with urllib.request.urlopen(f"{app.url}/chat/", timeout=10) as page:
            assert b'src="static/js/app/main.js"' in page.read()
        request = urllib.request.Request(
            f"{app.url}/chat/api/client-logs", method="POST", headers={"Cookie": cookie},
            data=b'{"client_id": "wheel", "lines": []}',
        )
        with urllib.request.urlopen(request, timeout=10) as logs:
            assert logs.status == 200


def test_tether_serve_runs_from_the_installed_wheel(venv: Path) -> None:
    work = venv.parent / "work"  # outside the repository: nothing imports from src/
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TETHER_", "PYTHONPATH"))}
    proc = subprocess.Popen(
        [venv / "bin/tether", "serve", "--port", "0", "--data-dir", work / "data"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if match := LISTENING.search(line):
                url = match.group(1)
                break
        assert url, "tether serve did not start"
        with urllib.request.urlopen(f"{url}/", timeout=10) as page:
            assert b"<html" in page.read().lower()
        with urllib.request.urlopen(f"{url}/static/js/app/main.js", timeout=10) as script:
            assert script.status == 200
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as ready:
            assert ready.status == 200
        assert (work / "data" / "tether.db").exists(), "the migrations made the database"
    finally:
        proc.terminate()
        proc.wait(15)
