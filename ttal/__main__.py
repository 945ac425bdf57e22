"""`python -m ttal`: what the sessions ttal starts call."""

from __future__ import annotations

import sys

from ttal.main import main

sys.exit(main())
