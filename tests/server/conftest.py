"""Server tests import their helpers by module name: `fakes.*` and `store_contract`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `fakes`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # `store_contract`
