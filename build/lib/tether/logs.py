"""Logging to stderr and ``<data dir>/logs/app.log`` (rotated), with the original's keywords."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(logs_dir: Path, level: str = "INFO") -> None:
    logs_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("tether")
    root.setLevel(level)
    root.propagate = False
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(FORMAT)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(formatter)
    file = logging.handlers.RotatingFileHandler(
        logs_dir / "app.log", maxBytes=10_000_000, backupCount=5, encoding="utf-8"
    )
    file.setFormatter(formatter)
    root.addHandler(console)
    root.addHandler(file)
