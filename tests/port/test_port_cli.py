"""`tokentide port`: rewrites incumbent imports, keeps formatting and comments, reports the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("libcst")

from tokentide.cli import main  # noqa: E402
from tokentide.cli._port_codemod import port_source  # noqa: E402

SOURCE = '''\
"""A module."""
# a comment that stays
from langchain_core.messages import (  # messages
    AIMessage,
    HumanMessage,  # the user
)
from langgraph.types import Command, Overwrite
from langchain_openai import ChatOpenAI as LLM
import langgraph.graph
import os

g = langgraph.graph.StateGraph(dict)  # build
'''


def test_rewrites_imports_keeping_comments() -> None:
    result = port_source(SOURCE)
    assert result.code == SOURCE.replace(
        "from langchain_core.messages", "from tokentide.messages"
    ).replace(
        "from langgraph.types import Command, Overwrite",
        ("from tokentide.types import Command\nfrom langgraph.types import Overwrite"),
    ).replace("from langchain_openai", "from tokentide.models").replace(
        "import langgraph.graph", "import tokentide.graph"
    ).replace("langgraph.graph.StateGraph", "tokentide.graph.StateGraph")
    assert [f.line for f in result.changes] == [3, 7, 8, 9]
    assert [(f.line, "`Overwrite`" in f.message) for f in result.problems] == [(7, True)]


def test_renamed_and_moved_names_keep_the_local_name() -> None:
    code = "from langchain_core.messages import get_buffer_string, AIMessage\n"
    result = port_source(code)
    assert result.code == (
        "from tokentide.prompts import get_buffer_string\nfrom tokentide.messages import AIMessage\n"
    )
    assert not result.problems


def test_unsupported_module_is_left_and_reported() -> None:
    code = "from langgraph.func import entrypoint\nfrom langchain_core.foo import bar\n"
    result = port_source(code)
    assert result.code == code
    assert [f.line for f in result.problems] == [1, 2]
    assert "not supported" in result.problems[0].message
    assert "no tokentide twin" in result.problems[1].message


def test_submodule_names_port_as_the_package_names() -> None:
    code = "from langchain_core.messages.ai import AIMessage, add_ai_message_chunks\n"
    result = port_source(code)
    assert result.code == (
        "from tokentide.messages import AIMessage\n"
        "from langchain_core.messages.ai import add_ai_message_chunks\n"
    )
    assert [f.line for f in result.problems] == [1]


def test_other_imports_are_untouched() -> None:
    code = "import json\nfrom . import x\nfrom langchainx import y  # not ours\n"
    result = port_source(code)
    assert result.code == code and not result.changes and not result.problems


def test_cli_writes_reports_and_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = tmp_path / "ok.py"
    ok.write_text("from langgraph.graph import StateGraph  # keep\n")
    bad = tmp_path / "pkg" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("from langgraph.types import Overwrite\n")
    assert main(["port", str(ok)]) == 0
    assert ok.read_text() == "from tokentide.graph import StateGraph  # keep\n"
    assert main(["port", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "NOT PORTED line 1: `Overwrite` of `langgraph.types`" in out
    assert bad.read_text() == "from langgraph.types import Overwrite\n"


def test_cli_diff_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.py"
    path.write_text("from langchain_core.prompts import ChatPromptTemplate\n")
    assert main(["port", "--diff", str(path)]) == 0
    out = capsys.readouterr().out
    assert "-from langchain_core.prompts import ChatPromptTemplate" in out
    assert "+from tokentide.prompts import ChatPromptTemplate" in out
    assert path.read_text() == "from langchain_core.prompts import ChatPromptTemplate\n"


def test_cli_missing_path(tmp_path: Path) -> None:
    assert main(["port", str(tmp_path / "nope.py")]) == 2


def test_notebook_code_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nb: dict[str, Any] = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["from langgraph.graph import x"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": [
                    "%pip install langgraph\n",
                    "from langgraph.graph import StateGraph\n",
                    "!ls",
                ],
            },
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": "from langgraph.types import Overwrite",
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert main(["port", str(path)]) == 1
    new = json.loads(path.read_text())
    assert new["cells"][0] == nb["cells"][0]
    assert new["cells"][1]["source"] == [
        "%pip install langgraph\n",
        "from tokentide.graph import StateGraph\n",
        "!ls",
    ]
    assert new["cells"][2]["source"] == "from langgraph.types import Overwrite"
    assert "cell 3 line 1" in capsys.readouterr().out
