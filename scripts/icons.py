"""Write the web app's PNG icons (static/icons/): a blue ring and dot on the app's dark colour.

    python scripts/icons.py

Plain zlib, no imaging library: the icons are simple enough to compute pixel by pixel. The
drawing stays inside the central 80% circle, so the same icons serve as "maskable" ones.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "src" / "tether" / "static" / "icons"
BACKGROUND = (0x10, 0x14, 0x18)
BLUE = (0x4F, 0x8C, 0xFF)


def pixel(x: float, y: float) -> tuple[int, int, int]:
    """The colour at (x, y) in a unit square centred on (0.5, 0.5): a ring and a dot."""
    r = math.hypot(x - 0.5, y - 0.5)
    if 0.22 <= r <= 0.30 or r <= 0.09:
        return BLUE
    return BACKGROUND


def png(size: int) -> bytes:
    rows = bytearray()
    samples = 4  # per axis: smooth edges
    for j in range(size):
        rows.append(0)
        for i in range(size):
            acc = [0, 0, 0]
            for sj in range(samples):
                for si in range(samples):
                    x = (i + (si + 0.5) / samples) / size
                    colour = pixel(x, (j + (sj + 0.5) / samples) / size)
                    for k in range(3):
                        acc[k] += colour[k]
            rows += bytes(round(c / samples**2) for c in acc)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    ICONS.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (ICONS / f"icon-{size}.png").write_bytes(png(size))
