"""The offline shell's server side (tether/shell.py, tether/http.py): the service worker at the
app's root with the shell's version in its bytes, the module naming the files to precache, the
web app manifest, at the top and under a mount prefix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.embed.test_mounted import in_starlette
from tests.support.inprocess import serve_in_process
from tether.http import STATIC
from tether.shell import Shell, is_shell_file


def shell_of(module: str) -> dict[str, object]:
    body = module.split("Object.freeze(", 1)[1].rsplit(");", 1)[0]
    return json.loads(body)  # type: ignore[no-any-return]


def test_the_shell_lists_the_page_and_its_files_but_not_the_worker_or_licences() -> None:
    files = Shell(STATIC).snapshot().files
    assert files[:2] == ("./", "manifest.webmanifest")
    for needed in ("static/css/app.css", "static/js/app/main.js", "static/js/client/cache.js",
                   "static/vendor/socket.io.esm.min.js", "static/icons/icon-192.png"):
        assert needed in files, needed
    assert not any("LICENSE" in f or f.endswith(".json") or "/sw/" in f for f in files), files
    assert not any(f in ("static/index.html", "static/sw.js") for f in files)
    assert not is_shell_file("sw.js") and not is_shell_file("js/sw/offline.js")
    assert "static/vendor/axe.min.js" not in files, "a test tool is not precached for users"


def test_any_changed_file_is_a_new_version(tmp_path: Path) -> None:
    static = tmp_path / "static"
    shutil.copytree(STATIC, static)
    shell = Shell(static)
    first = shell.snapshot().version
    assert Shell(static).snapshot().version == first  # a hash of the contents, not of the run
    assert shell.snapshot().version == first
    (static / "js" / "sw" / "offline.js").write_text("// changed\n")
    second = shell.snapshot().version
    assert second != first
    assert second.encode() in shell.worker()
    (static / "vendor" / "marked.LICENSE.txt").write_text("changed too\n")
    assert shell.snapshot().version not in (first, second)


@pytest.mark.parametrize("prefix", ["", "/chat"])
async def test_the_worker_its_shell_and_the_manifest_are_served_under_the_prefix(
    tmp_path: Path, prefix: str
) -> None:
    mount = in_starlette if prefix else None
    async with serve_in_process(tmp_path / "data", mount=mount) as server:
        async with httpx.AsyncClient(base_url=f"{server.url}{prefix}") as http:
            worker = await http.get("/sw.js")
            module = await http.get("/static/js/sw/shell.js")
            manifest = await http.get("/manifest.webmanifest")
            page = await http.get("/")
            offline = await http.get("/static/js/sw/offline.js")
    version = Shell(STATIC).snapshot().version
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache"
    assert 'import "./static/js/sw/offline.js";' in worker.text
    assert worker.text.rstrip().endswith(f"// shell version {version}")
    assert "worker-src 'self'" in worker.headers["content-security-policy"]
    shell = shell_of(module.text)
    assert module.headers["content-type"].startswith("text/javascript")
    assert shell["version"] == version and "./" in shell["files"]  # type: ignore[operator]
    assert offline.status_code == 200 and "./shell.js" in offline.text
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    app = manifest.json()
    assert (app["start_url"], app["scope"], app["display"]) == ("./", "./", "standalone")
    assert {icon["sizes"] for icon in app["icons"]} == {"192x192", "512x512"}
    assert '<link rel="manifest" href="manifest.webmanifest">' in page.text
    assert "manifest-src 'self'" in page.headers["content-security-policy"]
