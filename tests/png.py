"""Reading a PNG screenshot (headless Chromium's) without a third-party library: 8-bit RGB or
RGBA, not interlaced, which is what Chromium writes. For tests that look at what a browser
drew (tests/test_insights_e2e.py)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

Pixel = tuple[int, int, int]


def read(path: Path) -> tuple[int, int, list[list[Pixel]]]:
    """(width, height, rows of (r, g, b))."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, head = 8, b"", b""
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        head = body if kind == b"IHDR" else head
        idat += body if kind == b"IDAT" else b""
        pos += size + 12
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", head)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    step = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * step
    rows: list[list[Pixel]] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        _unfilter(kind, line, prev, step)
        rows.append([(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, step)])
        prev = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, prev: bytearray, step: int) -> None:
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up = prev[i]
        corner = prev[i - step] if i >= step else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + best) & 0xFF


def runs(rows: list[list[Pixel]], color: str) -> int:
    """How many separate columns of pixels of exactly `color` (#rrggbb) the image has: the
    bars of one chart drawn in that color, side by side."""
    want = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    columns = sorted({x for row in rows for x, px in enumerate(row) if px == want})
    return sum(1 for i, x in enumerate(columns) if i == 0 or x != columns[i - 1] + 1)
