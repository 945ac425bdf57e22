"""ttal: run a team of AI coding agents across many git repos."""

from __future__ import annotations

__version__ = "0.1.0"
