"""The web app's offline shell: what the service worker precaches, and its version.

The worker (``static/sw.js``, served at ``<prefix>/sw.js`` so that its scope is the app under any
mount prefix) learns the shell from ``static/js/sw/shell.js``, a module this file writes:
``export const SHELL = {"version": ..., "files": [...]}``, with the files as URLs relative to the
worker's scope. The version is a hash of every file under ``static/``, and it is appended to the
worker's own bytes too: a browser checks the worker script for changes on every navigation, so
any change to any shell file is a new worker, which precaches the new shell in a new cache and
deletes the old one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

#: The kinds of file the shell is made of (licence texts and the vendoring manifest are not).
SHELL_SUFFIXES = frozenset({".css", ".js", ".mjs", ".png", ".svg"})
#: Served at the scope's root rather than under ``static/``.
WORKER = "sw.js"
MANIFEST = "manifest.webmanifest"
#: The worker's own modules: the browser keeps them with the worker, they are not shell files.
WORKER_MODULES = "js/sw/"
#: Vendored for the tests, never loaded by the app: axe-core (560 KB) is not precached for users.
TEST_ONLY = frozenset({"vendor/axe.min.js"})


@dataclass(frozen=True)
class ShellSnapshot:
    version: str
    files: tuple[str, ...]


class Shell:
    """The shell of the web app in ``static``, read again whenever a file there changes (an
    upgrade in place, or an editable install being edited, is a new version at once)."""

    def __init__(self, static: Path) -> None:
        self.static = static
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._snapshot = ShellSnapshot("empty", ())

    def snapshot(self) -> ShellSnapshot:
        signature = self._stat()
        if signature != self._signature:
            self._snapshot = self._read(signature)
            self._signature = signature
        return self._snapshot

    def worker(self) -> bytes:
        """``sw.js`` with the shell version appended (so the browser sees a new worker)."""
        source = (self.static / WORKER).read_bytes()
        return source + f"\n// shell version {self.snapshot().version}\n".encode()

    def module(self) -> bytes:
        """The ES module the worker imports: the version and the files to precache."""
        snapshot = self.snapshot()
        data = orjson.dumps({"version": snapshot.version, "files": list(snapshot.files)})
        return b"// Written by tether/shell.py: the offline shell's version and files.\n" + (
            b"export const SHELL = Object.freeze(" + data + b");\n"
        )

    def _stat(self) -> tuple[tuple[str, int, int], ...]:
        entries = []
        for root, _dirs, names in os.walk(self.static):
            for name in names:
                path = Path(root, name)
                stat = path.stat()
                entries.append((path.relative_to(self.static).as_posix(), stat.st_mtime_ns,
                                stat.st_size))
        return tuple(sorted(entries))

    def _read(self, signature: tuple[tuple[str, int, int], ...]) -> ShellSnapshot:
        digest = hashlib.sha256()
        files = ["./", MANIFEST]
        for relative, _mtime, _size in signature:
            digest.update(relative.encode() + b"\0")
            digest.update(hashlib.sha256((self.static / relative).read_bytes()).digest())
            if is_shell_file(relative):
                files.append(f"static/{relative}")
        return ShellSnapshot(digest.hexdigest()[:16], tuple(files))


def is_shell_file(relative: str) -> bool:
    """Whether a file under ``static/`` (a POSIX relative path) is precached as ``static/...``."""
    if relative.startswith(WORKER_MODULES) or "/" not in relative:
        return False  # the worker's modules; sw.js, index.html and the manifest have own URLs
    if relative in TEST_ONLY:
        return False
    return Path(relative).suffix in SHELL_SUFFIXES
