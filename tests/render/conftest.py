from __future__ import annotations

import sys
from pathlib import Path

# Let the tests here import their helper modules (_sim.py, ...) by name.
sys.path.insert(0, str(Path(__file__).parent))
