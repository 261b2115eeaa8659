"""A notebook for a real Jupyter kernel (nbclient), for the notebook display tests."""

from __future__ import annotations

from typing import Any

import pytest


def new_notebook(*sources: str) -> tuple[Any, Any]:
    """A notebook with one code cell per source, and the ``nbclient`` module to run it; skips
    the test without the notebook test extras (nbformat, nbclient, ipykernel)."""
    nbformat = pytest.importorskip("nbformat", reason="needs the notebook test extras")
    nbclient = pytest.importorskip("nbclient", reason="needs the notebook test extras")
    pytest.importorskip("ipykernel", reason="needs the notebook test extras")
    notebook = nbformat.v4.new_notebook()
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in sources)
    return notebook, nbclient
