"""Tests leave the tree clean: what they write goes to an ignored folder, never to tracked files
(``make screenshots`` is the explicit way to refresh the README's pictures)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.e2e.conftest import ARTIFACTS, ROOT, SCREENSHOTS


def ignored_by_git(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)
@pytest.mark.skipif("TETHER_SCREENSHOTS" in os.environ, reason="make screenshots is running")
def test_screenshots_and_artifacts_go_to_an_ignored_folder() -> None:
    assert SCREENSHOTS.is_relative_to(ARTIFACTS)
    assert ignored_by_git(str(SCREENSHOTS / "desktop-chat.png"))
    assert ignored_by_git(str(ARTIFACTS / "recovery.jsonl"))
    assert not ignored_by_git(str(ROOT / "docs" / "screenshots" / "desktop-chat.png"))
