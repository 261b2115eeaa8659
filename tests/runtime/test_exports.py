"""The public names of the prompt and output-parser modules change only on purpose."""

from __future__ import annotations

import tokentide.output_parsers
import tokentide.prompts


def test_prompts_exports() -> None:
    assert sorted(tokentide.prompts.__all__) == [
        "AIMessagePromptTemplate",
        "BasePromptTemplate",
        "ChatPromptTemplate",
        "ChatPromptValue",
        "HumanMessagePromptTemplate",
        "MessagesPlaceholder",
        "MissingVariablesError",
        "PromptTemplate",
        "PromptValue",
        "StringPromptValue",
        "SystemMessagePromptTemplate",
        "get_buffer_string",
    ]
    for name in tokentide.prompts.__all__:
        assert getattr(tokentide.prompts, name).__module__.startswith("tokentide.")


def test_output_parsers_exports() -> None:
    assert sorted(tokentide.output_parsers.__all__) == [
        "BaseOutputParser",
        "JsonOutputParser",
        "OutputParserException",
        "StrOutputParser",
    ]
    assert issubclass(tokentide.output_parsers.OutputParserException, ValueError)


def test_public_classes_have_docstrings_with_examples() -> None:
    for module in (tokentide.prompts, tokentide.output_parsers):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and not name.startswith("Base") and name != "PromptValue":
                assert obj.__doc__, name
