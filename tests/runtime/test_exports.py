"""Prompt and output-parser public classes are documented (names are pinned in
``tests/test_exported_members.py``)."""

from __future__ import annotations

import tokentide.output_parsers
import tokentide.prompts


def test_output_parser_exception_is_a_value_error() -> None:
    assert issubclass(tokentide.output_parsers.OutputParserException, ValueError)


def test_public_classes_have_docstrings_with_examples() -> None:
    for module in (tokentide.prompts, tokentide.output_parsers):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and not name.startswith("Base") and name != "PromptValue":
                assert obj.__doc__, name
