"""``python -m tokentide.cli``: the same as the ``tokentide`` command."""

import sys

from tokentide.cli import main

sys.exit(main())
